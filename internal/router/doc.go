// Package router matches a request (host, method, canonical path, headers) to
// one compiled route, and canonicalises raw request paths (Canonicalize).
//
// New compiles the routes into one segment trie per host spec; Match walks
// at most a few tries, so its cost depends on the path length and host, not
// on the number of routes. A route is chosen by this order, fully
// deterministic (docs/routing.md has the same text with examples):
//
//  1. Host. Exact host > longest wildcard suffix ("*.a.example.com" >
//     "*.example.com") > routes without hosts. Hosts compare
//     case-insensitively; the caller strips the port; one trailing dot is
//     ignored. "*.example.com" matches one or more labels before
//     ".example.com", never "example.com" itself. A level is only chosen if
//     one of its routes matches the whole request (path, headers and method);
//     otherwise the search falls back to the next, less specific level, so a
//     global route still serves the paths (and methods) a host does not.
//  2. Path, as Go 1.22 net/http.ServeMux: compared segment by segment from
//     the left, a literal segment beats {param}, which beats a subtree
//     ("/static/" or "/files/{rest...}"). So an exact pattern beats a
//     subtree of the same prefix, and "/a/{$}" beats "/a/". {param} matches
//     one non-empty segment; a subtree matches the rest of the path after
//     its '/', possibly empty ("/a/" and "/a/{r...}" match "/a/" but not
//     "/a"). There are no redirects.
//  3. Among routes with the same host spec and pattern: more header matchers
//     first; then an explicit method list before any-method. A GET route
//     serves HEAD, below a route that lists HEAD explicitly.
//     Remaining equals (different header matchers, same count, both
//     matching) go to the route given first to New.
//  4. 404 vs 405: 405 only if some route matched host+path+headers but none
//     allows the method, at any host level; Allow is the sorted union of
//     their methods, plus HEAD where GET is allowed.
//
// Ties, two routes that would match exactly the same requests with the same
// priority (same host spec, same pattern up to wildcard names, overlapping
// methods, same header matchers), are rejected by New as "ambiguous routes".
//
// Matching works on the canonical path (see Canonicalize): literal pattern
// segments are canonicalised the same way at New, and captured values are
// substrings of the canonical path, still percent-encoded for anything but
// unreserved characters.
package router
