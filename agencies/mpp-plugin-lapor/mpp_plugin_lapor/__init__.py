"""SP4N-LAPOR! as an MPP Hub plugin: the ``complaint`` contract package, its client and sandbox, and the
complaint process (``pengaduan``)."""
