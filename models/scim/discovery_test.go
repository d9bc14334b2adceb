package scim

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/discovery")

// The discovery documents are compared whole with golden files (review them there);
// the rows below also pin what Okta's and Microsoft's conformance suites check.
func TestDiscoveryDocuments(t *testing.T) {
	resourceTypes := ResourceTypes(base + "/")
	schemas := Schemas(base)
	tests := []struct {
		name   string
		golden string
		doc    any
	}{
		{name: "ServiceProviderConfig", golden: "service-provider-config.json", doc: ServiceProviderConfig(base + "/")},
		{name: "ResourceTypes", golden: "resource-types.json", doc: ListResponse{TotalResults: 2, StartIndex: 1, Resources: []any{resourceTypes[0], resourceTypes[1]}}},
		{name: "Schemas", golden: "schemas.json", doc: ListResponse{TotalResults: 4, StartIndex: 1, Resources: []any{schemas[0], schemas[1], schemas[2], schemas[3]}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.MarshalIndent(tt.doc, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			file := filepath.Join("testdata", "discovery", tt.golden)
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update once to create it)", err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s differs from %s:\n%s", tt.name, file, got)
			}
		})
	}
}

func TestDiscoveryConformance(t *testing.T) {
	var spc struct {
		Schemas []string `json:"schemas"`
		Patch   struct{ Supported bool }
		Bulk    struct {
			Supported                     bool
			MaxOperations, MaxPayloadSize *int
		}
		Filter struct {
			Supported  bool
			MaxResults int
		}
		ChangePassword, Sort, Etag struct{ Supported *bool }
		AuthenticationSchemes      []struct {
			Type, Description string
			Primary           bool
		}
		Meta struct{ Location string }
	}
	roundTrip(t, ServiceProviderConfig(base+"/"), &spc)
	if len(spc.Schemas) != 1 || spc.Schemas[0] != SchemaServiceProviderConfig || !spc.Patch.Supported || spc.Bulk.Supported ||
		spc.Bulk.MaxOperations == nil || spc.Bulk.MaxPayloadSize == nil || !spc.Filter.Supported || spc.Filter.MaxResults != 1000 ||
		spc.ChangePassword.Supported == nil || *spc.ChangePassword.Supported || spc.Sort.Supported == nil || *spc.Sort.Supported ||
		spc.Etag.Supported == nil || *spc.Etag.Supported || len(spc.AuthenticationSchemes) != 1 ||
		spc.AuthenticationSchemes[0].Type != "oauthbearertoken" || spc.AuthenticationSchemes[0].Description == "" ||
		!spc.AuthenticationSchemes[0].Primary || spc.Meta.Location != base+"/ServiceProviderConfig" {
		t.Fatalf("ServiceProviderConfig = %+v", spc)
	}

	var rts []struct {
		ID, Name, Endpoint, Schema, Description string
		SchemaExtensions                        []struct {
			Schema   string
			Required bool
		}
		Meta struct{ Location string }
	}
	roundTrip(t, ResourceTypes(base), &rts)
	if len(rts) != 2 || rts[0].Endpoint != "/Users" || rts[0].Name != "User" || rts[0].Schema != SchemaUser ||
		len(rts[0].SchemaExtensions) != 2 || rts[0].SchemaExtensions[0].Schema != SchemaExtension || rts[0].SchemaExtensions[0].Required ||
		rts[0].SchemaExtensions[1].Schema != SchemaEnterpriseUser || rts[0].SchemaExtensions[1].Required ||
		rts[0].Meta.Location != base+"/ResourceTypes/User" ||
		rts[1].Endpoint != "/Groups" || rts[1].Name != "Group" || rts[1].Schema != SchemaGroup || rts[1].SchemaExtensions != nil {
		t.Fatalf("ResourceTypes = %+v", rts)
	}

	var schemas []struct {
		ID, Description string
		Attributes      []struct{ Name, Mutability string }
	}
	roundTrip(t, Schemas(base), &schemas)
	got := map[string][]string{}
	for _, s := range schemas {
		for _, a := range s.Attributes {
			got[s.ID] = append(got[s.ID], a.Name+":"+a.Mutability)
		}
	}
	want := map[string][]string{
		SchemaUser:      {"userName:readWrite", "name:readWrite", "displayName:readWrite", "emails:readWrite", "active:readWrite", "groups:readOnly"},
		SchemaGroup:     {"displayName:readWrite", "members:readWrite"},
		SchemaExtension: {"orgRole:readWrite"},
		SchemaEnterpriseUser: {"employeeNumber:readWrite", "costCenter:readWrite", "organization:readWrite", "division:readWrite",
			"department:readWrite", "manager:readWrite"},
	}
	deepEqual(t, "schema attributes", got, want)
	if schemas[0].Description != "User Account" { // Microsoft's collection looks for it
		t.Fatalf("User schema description = %q", schemas[0].Description)
	}
}

func roundTrip(t *testing.T, v, into any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
