package admin

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

type obj = map[string]any

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.openAPIDocument())
}

// openAPIDocument derives the OpenAPI 3.1 document from the endpoint table,
// so it cannot drift from what the mux serves.
func (s *Server) openAPIDocument() obj {
	paths := obj{}
	for _, p := range pathsOf(s.eps) {
		paths[p] = obj{}
	}
	for _, ep := range s.eps {
		paths[ep.Path].(obj)[strings.ToLower(ep.Method)] = operation(ep)
	}
	version := s.o.Version
	if version == "" {
		version = "dev"
	}
	return obj{
		"openapi": "3.1.0",
		"info": obj{"title": "tollgate admin API", "version": version,
			"description": "Admin API of the tollgate gateway. Every route needs Authorization: Bearer <admin token>, except /metrics from loopback and the /ui login page."},
		"security": []any{obj{"bearer": []any{}}},
		"paths":    paths,
		"components": obj{
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"},
				"session": obj{"type": "apiKey", "in": "cookie", "name": sessionCookie}},
			"schemas":    schemas(),
			"parameters": obj{"limit": limitParam(), "cursor": cursorParam()},
			"responses":  obj{"Problem": problemResponse("An error, as RFC 9457 problem details")},
		},
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func operation(ep endpoint) obj {
	op := obj{
		"summary":     ep.Summary,
		"tags":        []any{ep.Tag},
		"operationId": operationID(ep),
		"responses":   responses(ep),
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(ep.Path, -1) {
		params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
	}
	for _, q := range ep.Query {
		params = append(params, obj{"$ref": "#/components/parameters/" + q})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if ep.Body != "" {
		op["requestBody"] = requestBody(ep)
	}
	switch ep.Auth {
	case authPublic:
		op["security"] = []any{}
	case authSession:
		op["security"] = []any{obj{"session": []any{}}, obj{"bearer": []any{}}}
	case authMetrics:
		op["description"] = "No token needed when the client connects from a loopback address."
	}
	return op
}

func operationID(ep endpoint) string {
	clean := strings.NewReplacer("{", "", "}", "", ".", "_", "/", "_").Replace(ep.Path)
	return strings.ToLower(ep.Method) + strings.TrimRight(clean, "_")
}

func requestBody(ep endpoint) obj {
	switch ep.Body {
	case "ConfigDocument":
		return obj{"required": true, "content": obj{
			"application/yaml": obj{"schema": obj{"type": "string"}},
			"application/json": obj{"schema": obj{"type": "object"}},
		}}
	case "LoginForm", "LogoutForm":
		return obj{"required": true, "content": obj{"application/x-www-form-urlencoded": obj{"schema": ref(ep.Body)}}}
	}
	return obj{"required": ep.Method != "POST" || ep.Body == "ConsumerInput", "content": obj{"application/json": obj{"schema": ref(ep.Body)}}}
}

func responses(ep endpoint) obj {
	ok := obj{"description": http.StatusText(ep.Status)}
	switch {
	case ep.Status == http.StatusSeeOther:
		ok["headers"] = obj{"Location": obj{"schema": obj{"type": "string"}}}
	case ep.Result == "":
	case strings.Contains(ep.Result, "/"):
		ok["content"] = obj{ep.Result: obj{"schema": obj{"type": "string"}}}
	default:
		ok["content"] = obj{"application/json": obj{"schema": ref(ep.Result)}}
	}
	out := obj{strconv.Itoa(ep.Status): ok}
	if ep.Auth != authPublic && ep.Auth != authSession {
		out["401"] = obj{"$ref": "#/components/responses/Problem"}
	}
	if ep.Tag != "ui" {
		out["default"] = obj{"$ref": "#/components/responses/Problem"}
	}
	return out
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func problemResponse(desc string) obj {
	return obj{"description": desc, "content": obj{"application/problem+json": obj{"schema": ref("Problem")}}}
}

func limitParam() obj {
	return obj{"name": "limit", "in": "query", "schema": obj{"type": "integer", "minimum": 1, "maximum": maxLimit, "default": defaultLimit}}
}

func cursorParam() obj {
	return obj{"name": "cursor", "in": "query", "description": "the \"next\" value of the previous page", "schema": obj{"type": "string"}}
}

func pageOf(item string) obj {
	return obj{"type": "object", "required": []any{"data", "next"}, "properties": obj{
		"data": obj{"type": "array", "items": ref(item)},
		"next": obj{"type": []any{"string", "null"}},
	}}
}

func props(required []string, p obj) obj {
	o := obj{"type": "object", "properties": p}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var (
	str      = obj{"type": "string"}
	strNull  = obj{"type": []any{"string", "null"}, "format": "date-time"}
	dateTime = obj{"type": "string", "format": "date-time"}
	integer  = obj{"type": "integer"}
	boolean  = obj{"type": "boolean"}
	strList  = obj{"type": "array", "items": str}
	strMap   = obj{"type": "object", "additionalProperties": str}
	anyObj   = obj{"type": "object"}
	chain    = obj{"type": "array", "items": props(nil, obj{"phase": str, "policy": str})}
)

func schemas() obj {
	return obj{
		"Problem": props([]string{"type", "title", "status"}, obj{"type": str, "title": str, "status": integer, "detail": str, "request_id": str,
			"errors": obj{"type": "array", "items": props(nil, obj{"line": integer, "path": str, "message": str, "hint": str})}}),
		"Status": props([]string{"version", "uptime_seconds", "config", "components"}, obj{"status": str, "version": str, "uptime_seconds": integer,
			"config":     props(nil, obj{"revision": integer, "hash": str}),
			"components": obj{"type": "object", "additionalProperties": props(nil, obj{"up": boolean, "detail": str, "since": dateTime})}}),
		"ApplyResult":    props([]string{"revision", "changed"}, obj{"revision": integer, "changed": boolean}),
		"RollbackResult": props([]string{"revision"}, obj{"revision": integer, "rolled_back_to": integer}),
		"Revision":       props([]string{"n", "hash"}, obj{"n": integer, "created_at": dateTime, "author": str, "source": str, "hash": str, "current": boolean, "document": str}),
		"RevisionPage":   pageOf("Revision"),
		"Service": props([]string{"name"}, obj{"name": str, "config": anyObj, "healthy_targets": integer,
			"targets": obj{"type": "array", "items": props(nil, obj{"url": str, "healthy": boolean, "breaker": str, "in_flight": integer, "weight": integer, "ejected_until": dateTime})}}),
		"ServicePage": pageOf("Service"),
		"Route": props([]string{"name", "chain"}, obj{"name": str, "service": str, "config": anyObj, "policies": anyObj, "chain": chain,
			"version_chains": obj{"type": "object", "additionalProperties": chain}}),
		"RoutePage":     pageOf("Route"),
		"Plan":          props([]string{"name"}, obj{"name": str, "rate_limit": anyObj, "quota": anyObj, "price": anyObj, "public": boolean}),
		"PlanPage":      pageOf("Plan"),
		"ConsumerInput": props([]string{"name"}, obj{"name": str, "plan": str, "groups": strList, "metadata": strMap, "disabled": boolean}),
		"ConsumerPatch": props(nil, obj{"name": str, "plan": str, "groups": strList, "metadata": strMap, "disabled": boolean}),
		"Consumer": props([]string{"id", "name"}, obj{"id": str, "name": str, "plan": str, "groups": strList, "metadata": strMap,
			"disabled": boolean, "created_at": dateTime, "updated_at": dateTime}),
		"ConsumerPage": pageOf("Consumer"),
		"KeyInput":     props(nil, obj{"expires_at": strNull}),
		"RotateInput":  props(nil, obj{"overlap": obj{"type": "string", "description": "Go duration, e.g. 1h; 0s revokes the old key at once"}}),
		"Key": props([]string{"id", "prefix"}, obj{"id": str, "consumer_id": str, "prefix": str, "created_at": dateTime,
			"expires_at": strNull, "revoked_at": strNull, "active": boolean}),
		"KeyPage": pageOf("Key"),
		"NewKey": props([]string{"id", "key", "prefix", "created_at", "expires_at"}, obj{"id": str,
			"key": obj{"type": "string", "description": "the plaintext key, shown only in this response"}, "prefix": str, "created_at": dateTime, "expires_at": strNull}),
		"BasicAuthInput": props([]string{"username", "password"}, obj{"username": str, "password": str}),
		"AuditEntry":     props([]string{"id", "at", "actor", "action", "target"}, obj{"id": integer, "at": dateTime, "actor": str, "action": str, "target": str, "detail": anyObj}),
		"AuditPage":      pageOf("AuditEntry"),
		"LoginForm":      props([]string{"token", "csrf"}, obj{"token": str, "csrf": str}),
		"LogoutForm":     props([]string{"csrf"}, obj{"csrf": str}),
	}
}
