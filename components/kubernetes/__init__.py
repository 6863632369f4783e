"""Everything that runs inside a cluster, the same for kind and AKS; the environment sizes it."""
