"""Sanitising speed of the webmail's HTML sanitiser on a large newsletter-like mail.

The mail is generated (deterministic): nested layout tables with inline styles,
a <style> block, remote images, tracking links, comments, conditional comments
and some hostile markup, the shape of a real marketing newsletter, repeated to
the requested size. Prints the median wall time and the
least CPU time of several runs (the machine may be shared).

    PYTHONPATH=src python bench/sanitize_bench.py [--kib 600] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

from postel.web.webmail.sanitize import sanitize_html

HEAD = """<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weekly news</title>
<style type="text/css">
body { margin: 0; padding: 0; background-color: #f4f4f4; font-family: Arial, sans-serif }
table { border-collapse: collapse }
td.content { padding: 20px 30px 40px 30px; color: #153643 }
h1 { font-size: 24px; margin: 0 }
a { color: #ee4c50; text-decoration: underline }
.hero { background-image: url(https://cdn.example.com/hero.jpg) }
@media screen and (max-width: 600px) { .col { width: 100% !important } }
</style>
<!--[if mso]><style>table {border-collapse:collapse;}</style><![endif]-->
</head><body style="margin:0;padding:0;">
"""

BLOCK = """<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"
 style="border-collapse: collapse; background-color: #ffffff;" bgcolor="#ffffff">
<tr><td align="center" valign="top" style="padding: 40px 0 30px 0; font-size: 14px;">
<a href="https://click.example.com/ls/click?upn=a{i}b{i}c&amp;utm_source=news" target="_blank">
<img src="https://cdn.example.com/img/banner-{i}.png" alt="Banner {i}" width="300" height="100"
 style="display: block; border: 0; height: auto;" /></a></td></tr>
<tr><td class="content" style="padding: 36px 30px 42px 30px; color: #153643;
 font-family: 'Helvetica Neue', Helvetica, Arial, sans-serif; line-height: 24px;">
<h1 style="font-size: 24px; margin: 0 0 20px 0; font-weight: bold;">Article {i}: news</h1>
<p style="margin: 0 0 12px 0; font-size: 16px; line-height: 24px;">Lorem ipsum dolor sit amet,
consectetur adipiscing elit. In tempus adipiscing felis, sit amet blandit ipsum volutpat sed.
Aliquam nec <b>erat</b> at <i>purus</i> cursus &amp; interdum &lt;vel&gt; nibh &#8212; done.</p>
<!-- tracking comment {i} -->
<p style="margin: 0;"><a href="https://click.example.com/ls/click?upn={i}" style="color: #ee4c50;
 text-decoration: underline;" onclick="track({i})">Read more</a>
<img src="https://t.example.net/open/{i}.gif" width="1" height="1" alt="" style="display:none"></p>
<ul style="margin: 8px 0; padding-left: 20px;"><li>One point</li><li>Another <span
 style="color: rgb(51, 51, 51); background: url(https://t.example.net/bg.png)">point</span></li></ul>
<div style="font-size:0px;line-height:0;mso-line-height-rule:exactly">&nbsp;</div>
</td></tr></table>
"""

TAIL = "<p>Unsubscribe: <a href='https://list.example.com/u?id=1'>here</a></p></body></html>"


def newsletter(kib: int) -> str:
    parts = [HEAD]
    size = len(HEAD) + len(TAIL)
    i = 0
    while size < kib * 1024:
        block = BLOCK.format(i=i)
        parts.append(block)
        size += len(block)
        i += 1
    parts.append(TAIL)
    return "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kib", type=int, default=600)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    source = newsletter(args.kib)
    wall, cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = sanitize_html(source)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    median = statistics.median(wall)
    print(
        f"input {len(source) / 1024:.0f} KiB, output {len(out.body) / 1024:.0f} KiB body "
        f"+ {len(out.css)} B css, {out.remote_blocked} remote images blocked: "
        f"wall median {median * 1000:.1f} ms, CPU min {min(cpu) * 1000:.1f} ms "
        f"(first run {cpu[0] * 1000:.1f} ms) "
        f"over {args.runs} runs ({len(source) / 1024 / 1024 / median:.1f} MiB/s)"
    )


if __name__ == "__main__":
    main()
