// The pulumi-resource-kubernetes plugin, built from the published provider module.
//
// Upstream's main package embeds schema-embed.json and terraform-mapping-embed.json, which its
// release build generates and which the module zip does not hold; scripts/install-kubernetes
// writes them beside this file (from the module's schema.json, with the plugin's version set,
// and terraform-mapping.json) in a throwaway copy before it builds.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
