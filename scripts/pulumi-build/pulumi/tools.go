//go:build tools

// Package tools pins the upstream main package built by scripts/ensure-pulumi.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
