"""Azure resources of a region (and the DNS zones an environment owns)."""
