//go:build tools

// Package tools pins the upstream packages used by scripts/ensure-pulumi to build
// the provider. The provider's main package is not built from here: its
// //go:embed inputs (schema-embed.json, terraform-mapping-embed.json) are
// generated at build time into a scratch copy under the cache directory.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
