"""A business-permit application (izin usaha) across Dukcapil, OSS-RBA and BSrE, as an MPP Hub process."""
