// Build module for the random resource provider plugin (see ../README.md), apart from the CLI's and
// the Kubernetes provider's so that neither of their builds depends on it. Holds no upstream source:
// it pins github.com/pulumi/pulumi-random/provider/v4 at the Python SDK's pin (pulumi_random 4.21.4).
// No go.sum is committed: the Go module proxy here serves no version of that module (403), so none
// could be resolved; scripts/ensure-pulumi runs `go mod tidy` in a scratch copy once it is served.
module micro-infra/pulumi-build/random

go 1.24.7

require github.com/pulumi/pulumi-random/provider/v4 v4.21.4
