/* Benchmark harness: decode DTMF with spandsp's dtmf_rx (default parameters).
 *
 * usage: spandsp_dtmf FILE...     (each FILE: raw signed 16-bit little-endian, 8 kHz mono)
 * Prints one line per file: the digits, each followed by '@' and the number of
 * samples fed when spandsp reported it (input is fed in 40-sample chunks, then
 * 800 samples of silence so a digit at the very end can finish).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spandsp.h>

static long fed;

static void on_digits(void *user_data, const char *digits, int len)
{
    (void) user_data;
    for (int i = 0; i < len; i++)
        printf("%c@%ld ", digits[i], fed);
}

int main(int argc, char **argv)
{
    int16_t buf[40];
    for (int f = 1; f < argc; f++) {
        FILE *in = fopen(argv[f], "rb");
        if (in == NULL) {
            perror(argv[f]);
            return 1;
        }
        dtmf_rx_state_t *rx = dtmf_rx_init(NULL, on_digits, NULL);
        fed = 0;
        size_t n;
        while ((n = fread(buf, sizeof(int16_t), 40, in)) > 0) {
            fed += (long) n;
            dtmf_rx(rx, buf, (int) n);
        }
        memset(buf, 0, sizeof(buf));
        for (int i = 0; i < 20; i++) {
            fed += 40;
            dtmf_rx(rx, buf, 40);
        }
        fclose(in);
        dtmf_rx_free(rx);
        putchar('\n');
    }
    return 0;
}
