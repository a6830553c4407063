/* The saved plan (plan.tsv in the cache dir) is outside data too: a corrupt file must be refused,
 * never trusted into out-of-range pieces. */
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    tokfs_plan plan;
    tokfs_err err;
    if (tokfs_plan_load(&plan, path, 0, &err) == 0) {
        for (uint32_t i = 0; i < plan.npieces; i++)
            if (plan.pieces[i].first_source > plan.pieces[i].last_source ||
                plan.pieces[i].last_source >= plan.nsources)
                abort();
        tokfs_plan_free(&plan);
    }
    close(fd);
    return 0;
}
