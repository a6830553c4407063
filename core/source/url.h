/* tokfs — source strings: what one names (an http(s):// URL, or a local file given as a path or a
 * file:// URL), how it appears in messages (redacted), and URLs resolved against a base or
 * compared by origin through curl's URL API (CURLU), so that tokfs takes a URL apart exactly as
 * libcurl will when it fetches it. */
#ifndef TOKFS_URL_H
#define TOKFS_URL_H

#include <stddef.h>

#include "common/error.h"

/* 1 if s is an http:// or https:// URL (the scheme in any case). */
int tokfs_url_is_http(const char *s);

/* 1 if s names a local path: neither an http(s):// nor a file:// URL (schemes in any case). */
int tokfs_url_is_local(const char *s);

/* Copy url to out with any "user:password@" userinfo replaced by "***@" and query parameters
 * named token/access_token/signature/sig (and the S3/GCS signature parameters) replaced by
 * "***". Any string is accepted, a URL curl would refuse included: the text is split by hand,
 * the authority ending at the first '/', '?' or '#' and the userinfo at its last '@', which
 * hides at least what curl would read as userinfo. Always NUL-terminates; a redacted URL longer
 * than out_size - 1 is cut (cutting only drops text, so no secret can reappear). */
void tokfs_url_redact(const char *url, char *out, size_t out_size);

/* What a source string names, for reading it: TOKFS_URL_HTTP for an http(s):// URL, or
 * TOKFS_URL_LOCAL with the file system path in path: a local path as given, or the path of a
 * file:///PATH or file://localhost/PATH URL, percent-decoded, ending where a query or fragment
 * would begin (RFC 8089; write '?' and '#' in a name as %3F and %23). A negative errno with a
 * one-line message naming it (redacted) for an empty string, another scheme, a file:// URL of
 * another host or with a bad escape, or a path longer than path_size - 1. */
enum { TOKFS_URL_LOCAL = 1, TOKFS_URL_HTTP = 2 };
int tokfs_url_locate(const char *url, char *path, size_t path_size, tokfs_err *err);

/* The absolute URL that the reference ref names when read at base (RFC 3986, section 5: ref
 * may be absolute, "//host/...", "/path", "path", "?query", ...), as curl's URL API resolves it:
 * dot segments removed, spaces in ref percent-encoded, the scheme in lower case, the rest as
 * written. malloc'd in *out (free it). -EINVAL with a message naming both (redacted) when curl
 * refuses either; -ENOMEM. */
int tokfs_url_resolve(const char *base, const char *ref, char **out, tokfs_err *err);

/* 0 when curl's URL API takes url for an absolute URL with a host; else -EINVAL with a message
 * naming it (redacted) and curl's reason. */
int tokfs_url_check(const char *url, tokfs_err *err);

/* 1 when url has the origin of `origin` (a URL; any path, query or fragment of it ignored): the
 * same scheme, userinfo, host (in any case) and port as written (no default port is filled in:
 * "host" and "host:443" differ), both read by curl's URL API as a transfer would read them. 0
 * otherwise, and when curl refuses either. */
int tokfs_url_same_origin(const char *url, const char *origin);

/* Percent-encode s for a URL path or query value the way AWS SigV4's canonical form (and the
 * Hugging Face hub) want it: unreserved characters (A-Z a-z 0-9 - . _ ~) as they are, '/' kept
 * when keep_slash, every other byte %XX in uppercase hex. Independent of the locale.
 * -ENAMETOOLONG when it does not fit in size bytes (NUL included). */
int tokfs_url_quote(const char *s, int keep_slash, char *out, size_t size);

#endif
