// Package scim is Gatehouse's SCIM 2.0 wire format (RFC 7643 / RFC 7644, SPEC §5):
// resources and their JSON, PATCH applied to a User or turned into membership steps
// for a Group, filters translated to parameterised SQL, paging, list responses and the
// discovery documents. It has no database and no HTTP: callers feed it bytes and
// strings and get back values or *Error (the SCIM error schema).
//
// It tolerates what real identity providers send (Microsoft Entra ID, Okta, the
// Microsoft SCIM test collection): attribute names in any case, ops in any case,
// booleans as strings, path-less PATCH values with dotted or URN-qualified keys.
package scim

// Schema and message URNs (RFC 7643 §8.7, RFC 7644 §3).
const (
	SchemaUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaExtension    = "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User" // attribute orgRole
	SchemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

	SchemaServiceProviderConfig = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResourceType          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema                = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	// SchemaEnterpriseUser is accepted on input and ignored: Gatehouse stores none of it.
	SchemaEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// MaxResults is the most resources one list response carries (ServiceProviderConfig
// filter.maxResults, the cap on count).
const MaxResults = 1000
