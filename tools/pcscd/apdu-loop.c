/*
 * apdu-loop.c - PC/SC round-trip probe: sends one APDU N times through pcscd and prints each latency.
 *
 * It is the PC/SC client half of tools/pcscd/bench-roundtrip.ts (there is no npm PC/SC binding in this project).
 * Build with tools/pcscd/build.sh (needs libpcsclite-dev); the binary lands in .cache/pcscd/apdu-loop.
 *
 * Usage: apdu-loop [-n count] [-a apdu-hex] [-r reader-substring] [-w wait-ms] [-q]
 *   -n count   number of timed SCardTransmit calls (default 1000); one untimed warm-up call is made first
 *   -a hex     the C-APDU (default 00CA000000, a GET DATA any card answers quickly)
 *   -r text    use the first reader whose name contains text (default: the first reader)
 *   -w ms      wait up to ms for a card to be present in that reader (default 5000)
 *   -q         do not print per-APDU lines, only the summary
 * Output: one line per APDU on stdout, "<index> <microseconds> <SW1SW2>"; a summary line on stderr
 * ("n=... median_us=... p90_us=... p99_us=... max_us=..."). Exit status 0 on success, 1 on any PC/SC error,
 * 2 on bad arguments.
 */
#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_microseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Nearest-rank percentile of a sorted array: the smallest value with at least percent% of the values <= it. */
static uint64_t percentile(const uint64_t *sorted, long count, long percent) {
    long rank = (percent * count + 99) / 100; /* ceil(percent / 100 * count) */
    if (rank < 1) rank = 1;
    return sorted[rank - 1];
}

/* Parses hex (spaces allowed) into out; returns the byte count or -1. */
static long parse_hex(const char *text, unsigned char *out, size_t capacity) {
    size_t count = 0;
    int high = -1;
    for (const char *p = text; *p != '\0'; p++) {
        int nibble;
        if (*p >= '0' && *p <= '9') nibble = *p - '0';
        else if (*p >= 'a' && *p <= 'f') nibble = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F') nibble = *p - 'A' + 10;
        else if (*p == ' ' || *p == ':') continue;
        else return -1;
        if (high < 0) {
            high = nibble;
        } else {
            if (count == capacity) return -1;
            out[count++] = (unsigned char)(high << 4 | nibble);
            high = -1;
        }
    }
    return high < 0 ? (long)count : -1;
}

static int fail(const char *what, LONG rv) {
    fprintf(stderr, "apdu-loop: %s: %s (0x%08lX)\n", what, pcsc_stringify_error(rv), (unsigned long)rv);
    return 1;
}

int main(int argc, char **argv) {
    long count = 1000, wait_ms = 5000;
    const char *apdu_hex = "00CA000000";
    const char *reader_filter = NULL;
    int quiet = 0;
    int option;
    while ((option = getopt(argc, argv, "n:a:r:w:q")) != -1) {
        switch (option) {
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'a': apdu_hex = optarg; break;
        case 'r': reader_filter = optarg; break;
        case 'w': wait_ms = strtol(optarg, NULL, 10); break;
        case 'q': quiet = 1; break;
        default:
            fprintf(stderr, "usage: %s [-n count] [-a apdu-hex] [-r reader-substring] [-w wait-ms] [-q]\n", argv[0]);
            return 2;
        }
    }
    unsigned char apdu[65544];
    long apdu_length = parse_hex(apdu_hex, apdu, sizeof apdu);
    if (count < 1 || apdu_length < 4) {
        fprintf(stderr, "apdu-loop: need -n >= 1 and an APDU of at least 4 bytes\n");
        return 2;
    }

    SCARDCONTEXT context;
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &context);
    if (rv != SCARD_S_SUCCESS) return fail("SCardEstablishContext", rv);

    DWORD readers_length = SCARD_AUTOALLOCATE;
    LPSTR readers = NULL;
    rv = SCardListReaders(context, NULL, (LPSTR)&readers, &readers_length);
    if (rv != SCARD_S_SUCCESS) return fail("SCardListReaders", rv);
    const char *reader = NULL;
    for (const char *name = readers; *name != '\0'; name += strlen(name) + 1) {
        if (reader_filter == NULL || strstr(name, reader_filter) != NULL) {
            reader = name;
            break;
        }
    }
    if (reader == NULL) {
        fprintf(stderr, "apdu-loop: no reader matches \"%s\"\n", reader_filter);
        return 1;
    }

    /* Wait for a card: pcscd notices a newly attached virtual card at its next presence poll (~400 ms). */
    SCARD_READERSTATE state = {.szReader = reader, .dwCurrentState = SCARD_STATE_UNAWARE};
    uint64_t wait_deadline = now_microseconds() + (uint64_t)wait_ms * 1000u;
    for (;;) {
        rv = SCardGetStatusChange(context, 0, &state, 1);
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) return fail("SCardGetStatusChange", rv);
        if (state.dwEventState & SCARD_STATE_PRESENT) break;
        uint64_t now = now_microseconds();
        if (now >= wait_deadline) {
            fprintf(stderr, "apdu-loop: no card in \"%s\" after %ld ms\n", reader, wait_ms);
            return 1;
        }
        state.dwCurrentState = state.dwEventState;
        rv = SCardGetStatusChange(context, (DWORD)((wait_deadline - now) / 1000u + 1), &state, 1);
        if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) return fail("SCardGetStatusChange", rv);
        if (state.dwEventState & SCARD_STATE_PRESENT) break;
    }

    SCARDHANDLE card;
    DWORD protocol;
    rv = SCardConnect(context, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &protocol);
    if (rv != SCARD_S_SUCCESS) return fail("SCardConnect", rv);
    const SCARD_IO_REQUEST *pci = protocol == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    fprintf(stderr, "apdu-loop: reader \"%s\", protocol T=%d, %ld APDUs of %ld bytes\n", reader,
            protocol == SCARD_PROTOCOL_T0 ? 0 : 1, count, apdu_length);

    uint64_t *latencies = calloc((size_t)count, sizeof *latencies);
    if (latencies == NULL) return 1;
    static unsigned char response[65538];
    for (long index = -1; index < count; index++) { /* index -1 is the untimed warm-up */
        DWORD response_length = sizeof response;
        uint64_t start = now_microseconds();
        rv = SCardTransmit(card, pci, apdu, (DWORD)apdu_length, NULL, response, &response_length);
        uint64_t elapsed = now_microseconds() - start;
        if (rv != SCARD_S_SUCCESS) return fail("SCardTransmit", rv);
        if (index < 0) continue;
        latencies[index] = elapsed;
        if (!quiet) {
            unsigned sw = response_length >= 2
                ? (unsigned)response[response_length - 2] << 8 | response[response_length - 1] : 0;
            printf("%ld %llu %04X\n", index, (unsigned long long)elapsed, sw);
        }
    }

    qsort(latencies, (size_t)count, sizeof *latencies, compare_u64);
    fprintf(stderr, "n=%ld median_us=%llu p90_us=%llu p99_us=%llu max_us=%llu\n", count,
            (unsigned long long)latencies[(count - 1) / 2], (unsigned long long)percentile(latencies, count, 90),
            (unsigned long long)percentile(latencies, count, 99), (unsigned long long)latencies[count - 1]);

    SCardDisconnect(card, SCARD_LEAVE_CARD);
    SCardFreeMemory(context, readers);
    SCardReleaseContext(context);
    free(latencies);
    return 0;
}
