"""A regional water utility (PDAM, Perumda Air Minum) as an MPP Hub plugin (agency code ``pdam``).

Its contract package (``mpp_plugin_pdam.contract``) adds the ``water`` namespace: ``water.bill``.
"""
