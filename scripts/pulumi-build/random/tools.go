//go:build tools

// Package tools pins the upstream provider that scripts/ensure-pulumi builds as
// pulumi-resource-random. Its main package is built from a scratch copy (it embeds generated
// files), as for the Kubernetes provider.
package tools

import (
	_ "github.com/pulumi/pulumi-random/provider/v4"
)
