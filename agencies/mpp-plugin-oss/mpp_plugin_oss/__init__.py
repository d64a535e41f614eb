"""OSS-RBA (Kementerian Investasi/BKPM) as an MPP Hub plugin (agency code ``oss``)."""
