"""The dmarcsend tests import dmarcsend_data from this directory."""
