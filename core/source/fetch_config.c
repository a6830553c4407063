/* The fetcher a configuration asks for (fetch_config.h). */
#include "source/fetch_config.h"

#include "source/hf.h"
#include "source/s3.h"

tokfs_fetcher *tokfs_fetcher_for_config(const tokfs_config *cfg)
{
    tokfs_fetch_config fc = {
        .retries = (int)cfg->retries,
        .timeout_ms = (int)cfg->timeout_ms,
        .backoff_base_ms = 200,
        .insecure = cfg->insecure,
        /* HF_TOKEN goes to the hub's origin only (curl also drops it on redirects elsewhere) */
        .bearer_token = cfg->hf_token,
        .bearer_origin = cfg->hf_endpoint ? cfg->hf_endpoint : TOKFS_HF_DEFAULT_ENDPOINT,
    };
    char s3_origin[600]; /* copied by tokfs_fetcher_new */
    tokfs_s3_fetch_config(cfg, &fc, s3_origin, sizeof s3_origin);
    return tokfs_fetcher_new(&fc);
}
