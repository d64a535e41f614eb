"""BSrE (BSSN) as an MPP Hub plugin (agency code ``bsre``)."""
