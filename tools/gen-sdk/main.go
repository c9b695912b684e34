// Command gen-sdk writes the Go, TypeScript and Python SDKs of the servregistry provider plugin from its
// schema, with the Pulumi code generators of the CLI's own module (the ones `pulumi package
// gen-sdk` runs through the language plugins):
//
//	gen-sdk provider/servregistry/native/schema.json OUT_DIR
//
// writes OUT_DIR/go/servregistry/..., OUT_DIR/nodejs/... and OUT_DIR/python/...; see run.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	nodejsgen "github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	pythongen "github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

const tool = "servregistry gen-sdk"

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen-sdk SCHEMA.json OUT_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "gen-sdk:", err)
		os.Exit(1)
	}
}

func run(schemaPath, out string) error {
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("%s: %w", schemaPath, err)
	}
	// the schema refers to no other package, so a loader with nothing in it is enough
	loader := schema.NewCachedLoaderWithEntries(nil, map[string]schema.PackageReference{})
	bind := func() (*schema.Package, error) {
		pkg, diags, err := schema.BindSpec(spec, loader, schema.ValidationOptions{})
		if err != nil {
			return nil, err
		}
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s: %s", schemaPath, diags.Error())
		}
		return pkg, nil
	}
	pkg, err := bind()
	if err != nil {
		return err
	}
	goFiles, err := gogen.GeneratePackage(tool, pkg, nil)
	if err != nil {
		return fmt.Errorf("go: %w", err)
	}
	if pkg, err = bind(); err != nil {
		return err
	}
	nodeFiles, err := nodejsgen.GeneratePackage(tool, pkg, nil, nil, false, loader)
	if err != nil {
		return fmt.Errorf("nodejs: %w", err)
	}
	if pkg, err = bind(); err != nil {
		return err
	}
	pythonFiles, err := pythongen.GeneratePackage(tool, pkg, nil, loader)
	if err != nil {
		return fmt.Errorf("python: %w", err)
	}
	if err := write(filepath.Join(out, "go"), goFiles); err != nil {
		return err
	}
	if err := write(filepath.Join(out, "nodejs"), nodeFiles); err != nil {
		return err
	}
	return write(filepath.Join(out, "python"), pythonFiles)
}

func write(dir string, files map[string][]byte) error {
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return err
		}
	}
	return nil
}
