/* tokfs — the HTTP client a configuration asks for: retries, timeouts, TLS checking, the hub's
 * bearer token (to the hub's origin only) and S3 signing (to the bucket's origin only). Every
 * fetcher tokfs makes for a config comes from here, so a mount's workers, its planning and
 * `tokfs build` send the same credentials to the same places. */
#ifndef TOKFS_FETCH_CONFIG_H
#define TOKFS_FETCH_CONFIG_H

#include "common/config.h"
#include "source/fetch.h"

/* A new fetcher for cfg (one per thread). NULL when out of memory. */
tokfs_fetcher *tokfs_fetcher_for_config(const tokfs_config *cfg);

#endif
