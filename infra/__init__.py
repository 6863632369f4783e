"""micro-infra: the Pulumi program, its typed configuration, the offline engine and the `infra` CLI."""
