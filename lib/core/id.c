#include "core/id.h"

#include <string.h>

int swarm__id_new(const swarm__clock *clk, char out[SWARM__ID_LEN + 1])
{
    /* 16 random bytes as a big-endian number, converted to base 36 by
     * repeated division; 36^25 > 2^128, so 25 digits always suffice. */
    unsigned char n[16];
    int rc = clk->random(clk->data, n, sizeof n);
    if (rc != 0)
        return rc;
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int pos = SWARM__ID_LEN - 1; pos >= 0; pos--) {
        unsigned rem = 0;
        for (size_t i = 0; i < sizeof n; i++) {
            unsigned cur = rem * 256 + n[i];
            n[i] = (unsigned char)(cur / 36);
            rem = cur % 36;
        }
        out[pos] = alphabet[rem];
    }
    out[SWARM__ID_LEN] = '\0';
    return 0;
}

int swarm__id_valid(const char *s)
{
    if (s == NULL || strlen(s) != SWARM__ID_LEN)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
            return 0;
    return 1;
}
