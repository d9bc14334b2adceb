package scim

import "strings"

// Discovery documents (RFC 7643 §5–7, RFC 7644 §4). They describe exactly what this
// package implements: PATCH yes, bulk, sort, etag and changePassword no, filters with
// at most MaxResults results, bearer tokens.

// ServiceProviderConfig is the /ServiceProviderConfig resource; baseURL is the SCIM
// base URL (for meta.location).
func ServiceProviderConfig(baseURL string) map[string]any {
	baseURL = strings.TrimRight(baseURL, "/")
	return map[string]any{
		"schemas":        []string{SchemaServiceProviderConfig},
		"patch":          map[string]any{"supported": true},
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": MaxResults},
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": false},
		"etag":           map[string]any{"supported": false},
		"authenticationSchemes": []map[string]any{{
			"type":        "oauthbearertoken",
			"name":        "OAuth Bearer Token",
			"description": "The organization's SCIM token, sent in the Authorization header as Bearer followed by the token",
			"specUri":     "https://www.rfc-editor.org/rfc/rfc6750",
			"primary":     true,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": baseURL + "/ServiceProviderConfig"},
	}
}

// ResourceTypes are the /ResourceTypes resources: User (with the Gatehouse and the
// enterprise extensions, not required) and Group, in that order.
func ResourceTypes(baseURL string) []map[string]any {
	baseURL = strings.TrimRight(baseURL, "/")
	rt := func(name, endpoint, description, schema string) map[string]any {
		return map[string]any{
			"schemas":     []string{SchemaResourceType},
			"id":          name,
			"name":        name,
			"endpoint":    endpoint,
			"description": description,
			"schema":      schema,
			"meta":        map[string]any{"resourceType": "ResourceType", "location": baseURL + "/ResourceTypes/" + name},
		}
	}
	user := rt("User", "/Users", "User Account", SchemaUser)
	user["schemaExtensions"] = []map[string]any{{"schema": SchemaExtension, "required": false}, {"schema": SchemaEnterpriseUser, "required": false}}
	return []map[string]any{user, rt("Group", "/Groups", "Group", SchemaGroup)}
}

// Schemas are the /Schemas resources: User, Group, the Gatehouse and the enterprise
// extensions, listing
// only the attributes Gatehouse keeps (the common id, externalId and meta are not
// listed, RFC 7643 §3.1).
func Schemas(baseURL string) []map[string]any {
	baseURL = strings.TrimRight(baseURL, "/")
	schema := func(id, name, description string, attrs ...map[string]any) map[string]any {
		return map[string]any{
			"schemas":     []string{SchemaSchema},
			"id":          id,
			"name":        name,
			"description": description,
			"attributes":  attrs,
			"meta":        map[string]any{"resourceType": "Schema", "location": baseURL + "/Schemas/" + id},
		}
	}
	user := schema(SchemaUser, "User", "User Account",
		attr("userName", "string", "The IdP's identifier for the member, kept as sent; unique in the organization ignoring case", required, unique),
		complexAttr("name", "The components of the member's name", false, readWrite,
			attr("formatted", "string", "The full name, built from givenName and familyName", readOnly),
			attr("familyName", "string", "The family name"),
			attr("givenName", "string", "The given name")),
		attr("displayName", "string", "The name displayed for the member"),
		complexAttr("emails", "The member's email: the primary one, else the work one (else the userName when it is an address); invitations go there", true, readWrite,
			with(attr("value", "string", "The email address"), "required", true),
			with(attr("type", "string", "The kind of email"), "canonicalValues", []string{"work", "home", "other"}),
			attr("primary", "boolean", "Whether this is the primary email")),
		attr("active", "boolean", "false deactivates the membership and ends its sessions"),
		complexAttr("groups", "The teams the member belongs to (change them through /Groups)", true, readOnly,
			attr("value", "string", "The id of the Group", readOnly),
			with(attr("$ref", "reference", "The URI of the Group", readOnly), "referenceTypes", []string{"Group"}),
			attr("display", "string", "The name of the Group", readOnly)),
	)
	group := schema(SchemaGroup, "Group", "Group (a team)",
		attr("displayName", "string", "The team's name; unique in the organization", required, unique),
		complexAttr("members", "The members of the team", true, readWrite,
			with(attr("value", "string", "The id of the User", immutable), "required", true),
			attr("display", "string", "The member's email", readOnly)),
	)
	ext := schema(SchemaExtension, "GatehouseUser", "Gatehouse organization membership",
		with(attr("orgRole", "string", "The member's role in the organization; owner cannot be granted through SCIM. "+
			"A role set here can no longer be changed in Gatehouse"), "canonicalValues", []string{"member", "admin", "manager", "billing"}),
	)
	// Accepted on input; Gatehouse stores none of it (listed so clients see it is known).
	enterprise := schema(SchemaEnterpriseUser, "EnterpriseUser", "Enterprise User (accepted and not stored)",
		attr("employeeNumber", "string", "Not stored"),
		attr("costCenter", "string", "Not stored"),
		attr("organization", "string", "Not stored"),
		attr("division", "string", "Not stored"),
		attr("department", "string", "Not stored"),
		complexAttr("manager", "Not stored", false, readWrite,
			attr("value", "string", "Not stored"),
			with(attr("$ref", "reference", "Not stored"), "referenceTypes", []string{"User"}),
			attr("displayName", "string", "Not stored", readOnly)),
	)
	return []map[string]any{user, group, ext, enterprise}
}

type attrOption func(map[string]any)

func required(a map[string]any)  { a["required"] = true }
func unique(a map[string]any)    { a["uniqueness"] = "server" }
func readOnly(a map[string]any)  { a["mutability"] = "readOnly" }
func readWrite(a map[string]any) { a["mutability"] = "readWrite" }
func immutable(a map[string]any) { a["mutability"] = "immutable" }

// attr is a single-valued attribute definition (RFC 7643 §7) with the defaults of
// §2.2: not required, case-insensitive, readWrite, returned by default, not unique.
func attr(name, typ, description string, opts ...attrOption) map[string]any {
	a := map[string]any{
		"name": name, "type": typ, "multiValued": false, "description": description, "required": false,
		"caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
	}
	if typ == "boolean" || typ == "complex" {
		delete(a, "caseExact")
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

func complexAttr(name, description string, multi bool, mutability attrOption, subs ...map[string]any) map[string]any {
	a := attr(name, "complex", description, mutability)
	a["multiValued"] = multi
	a["subAttributes"] = subs
	return a
}

func with(a map[string]any, key string, v any) map[string]any {
	a[key] = v
	return a
}
