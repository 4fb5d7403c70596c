/*
 * delay_line.c - a link with a round-trip time, for bench/latency: two TUN
 * devices, one in each of two network namespaces, and every IP packet read
 * from one written to the other after a fixed one-way delay (RTT/2), in
 * order. This kernel has no netem; a TUN pair is the packet-level link that
 * needs neither a bridge nor ethtool (a TUN device has no offloads: the
 * kernel hands over MTU-sized packets, never 64 KB GSO ones).
 *
 *   delay_line NS_CLIENT NS_SERVER DEV
 *     creates DEV in /run/netns/NS_CLIENT (the client side) and DEV in
 *     /run/netns/NS_SERVER, prints "ready", then forwards until stdin ends.
 *     The caller gives the addresses (ip -n NS addr add ... peer ...).
 *
 * Commands on stdin, one a line, each answered with one line on stdout:
 *   delay US    one-way delay in microseconds from now on     -> "ok"
 *   stats       counters since the start                      -> "rt R packets P bytes B"
 *   trace 1|0   from now on, one line per TCP packet on stderr -> "ok"
 *               (ms since the start, direction, flags, payload bytes)
 *
 * Round trips are counted from the packets: a packet is significant when
 * it carries TCP payload or SYN, or it is the client's ACK that completes
 * the handshake (the server's accept, and so its greeting, waits for it).
 * A round trip is a client->server run of significant packets followed by
 * a server->client one; pure ACKs and bare FINs (nobody waits on them) do
 * not count. So a plain SMTP session with PIPELINING is: SYN / SYN-ACK,
 * ACK / 220, EHLO / 250, MAIL RCPT DATA / 250 250 354, text / 250,
 * QUIT / 221: 6 round trips.
 */
#define _GNU_SOURCE /* setns, ppoll */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 8192 /* packets held per direction: ~100 ms of a busy loopback-speed flow */
#define MTU 1500

struct packet {
    int64_t due_ns;
    uint16_t len;
    unsigned char data[MTU];
};

/* One direction: a FIFO of held packets, read from `in`, written to `out`. */
struct line {
    int in, out;
    struct packet *ring;
    unsigned head, count;
};

/* A handshake the client has yet to complete: its port and the ACK number
 * that completes it. A few at a time at most (connections are sequential). */
struct pending {
    uint16_t port;
    uint32_t ack;
};

static struct pending pending[64];
static unsigned long long round_trips, packets, bytes;
static int tracing;
static int64_t start_ns;
static int last_dir = -1; /* direction of the last significant packet: 0 client->server, 1 back */

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* A TUN device named `dev` in the network namespace /run/netns/`ns`. */
static int tun_in(const char *ns, const char *dev)
{
    char path[256];
    struct ifreq ifr;
    int nsfd, fd;

    snprintf(path, sizeof path, "/run/netns/%s", ns);
    if ((nsfd = open(path, O_RDONLY)) < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
        die(path);
    }
    close(nsfd);
    if ((fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK)) < 0) {
        die("/dev/net/tun");
    }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        die("TUNSETIFF");
    }
    return fd;
}

static uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Counts the packet going in direction `dir` (0: client->server). */
static void count(int dir, const unsigned char *p, size_t len)
{
    size_t ihl, doff, payload;
    const unsigned char *tcp;
    uint16_t client_port;
    int flags, significant, i;

    packets++;
    bytes += len;
    if (len < 20 || p[0] >> 4 != 4 || p[9] != 6) {
        return; /* not IPv4 TCP */
    }
    ihl = (size_t)(p[0] & 15) * 4;
    if (len < ihl + 20) {
        return;
    }
    tcp = p + ihl;
    doff = (size_t)(tcp[12] >> 4) * 4;
    payload = be16(p + 2) > ihl + doff ? be16(p + 2) - ihl - doff : 0;
    flags = tcp[13]; /* FIN 1, SYN 2, ACK 16 */
    client_port = be16(tcp + (dir == 0 ? 0 : 2));
    significant = payload > 0 || (flags & 2);
    if (tracing) {
        fprintf(stderr, "%10.3f ms %s port %5u %s%s%s%s len %zu\n", (now_ns() - start_ns) / 1e6,
                dir == 0 ? "c->s" : "s->c", client_port, flags & 2 ? "S" : "", flags & 1 ? "F" : "",
                flags & 8 ? "P" : "", flags & 16 ? "." : "", payload);
    }
    if (dir == 1 && (flags & 18) == 18) { /* SYN-ACK: remember what completes it */
        for (i = 0; i < 64; i++) {
            if (pending[i].port == 0) {
                pending[i].port = client_port;
                pending[i].ack = be32(tcp + 4) + 1;
                break;
            }
        }
    } else if (dir == 0 && (flags & 16)) {
        for (i = 0; i < 64; i++) {
            if (pending[i].port == client_port && pending[i].ack == be32(tcp + 8)) {
                pending[i].port = 0;
                significant = 1;
            }
        }
    }
    if (!significant) {
        return;
    }
    if (dir == 1 && last_dir == 0) {
        round_trips++;
    }
    last_dir = dir;
}

/* Reads every packet waiting on l->in into the ring, due after `delay`. */
static void take(struct line *l, int dir, int64_t delay)
{
    for (;;) {
        struct packet *pk;
        ssize_t n;
        if (l->count == SLOTS) {
            return; /* full: leave the rest in the device's queue */
        }
        pk = &l->ring[(l->head + l->count) % SLOTS];
        n = read(l->in, pk->data, MTU);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                die("read");
            }
            return;
        }
        pk->len = (uint16_t)n;
        pk->due_ns = now_ns() + delay;
        count(dir, pk->data, (size_t)n);
        l->count++;
    }
}

/* Writes the packets that are due; returns ns until the next one (or -1). */
static int64_t give(struct line *l, int64_t now)
{
    while (l->count > 0) {
        struct packet *pk = &l->ring[l->head];
        if (pk->due_ns > now) {
            return pk->due_ns - now;
        }
        if (write(l->out, pk->data, pk->len) < 0 && errno != EIO) {
            /* EIO: the device is down (being torn down); the packet is lost */
            if (errno == EAGAIN) {
                return 100000; /* the device's queue is full: retry soon */
            }
            die("write");
        }
        l->head = (l->head + 1) % SLOTS;
        l->count--;
    }
    return -1;
}

static void command(char *text, int64_t *delay)
{
    long long us;
    if (sscanf(text, "delay %lld", &us) == 1) {
        *delay = us * 1000;
        printf("ok\n");
    } else if (sscanf(text, "trace %d", &tracing) == 1) {
        printf("ok\n");
    } else if (strncmp(text, "stats", 5) == 0) {
        printf("rt %llu packets %llu bytes %llu\n", round_trips, packets, bytes);
    } else {
        printf("error: unknown command\n");
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct line lines[2];
    char cmd[256];
    size_t cmd_len = 0;
    int64_t delay = 0;
    int i;

    if (argc != 4) {
        fprintf(stderr, "usage: delay_line NS_CLIENT NS_SERVER DEV\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    start_ns = now_ns();
    lines[0].in = lines[1].out = tun_in(argv[1], argv[3]);
    lines[1].in = lines[0].out = tun_in(argv[2], argv[3]);
    for (i = 0; i < 2; i++) {
        lines[i].ring = malloc(sizeof(struct packet) * SLOTS);
        lines[i].head = lines[i].count = 0;
        if (lines[i].ring == NULL) {
            die("malloc");
        }
    }
    printf("ready\n");
    fflush(stdout);

    for (;;) {
        struct pollfd fds[3];
        struct timespec ts, *tsp = NULL;
        int64_t wait = -1, now = now_ns();
        for (i = 0; i < 2; i++) {
            int64_t w = give(&lines[i], now);
            if (w >= 0 && (wait < 0 || w < wait)) {
                wait = w;
            }
            fds[i].fd = lines[i].in;
            fds[i].events = lines[i].count < SLOTS ? POLLIN : 0;
        }
        fds[2].fd = 0;
        fds[2].events = POLLIN;
        if (wait >= 0) {
            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
            tsp = &ts;
        }
        if (ppoll(fds, 3, tsp, NULL) < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("ppoll");
        }
        for (i = 0; i < 2; i++) {
            if (fds[i].revents & POLLIN) {
                take(&lines[i], i, delay);
            }
        }
        if (fds[2].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(0, cmd + cmd_len, sizeof cmd - 1 - cmd_len);
            if (n <= 0) {
                return 0; /* stdin closed: the bench is done */
            }
            cmd_len += (size_t)n;
            for (;;) {
                char *nl = memchr(cmd, '\n', cmd_len);
                size_t used;
                if (nl == NULL) {
                    if (cmd_len == sizeof cmd - 1) {
                        cmd_len = 0; /* a line too long: drop it */
                    }
                    break;
                }
                *nl = 0;
                command(cmd, &delay);
                used = (size_t)(nl - cmd) + 1;
                memmove(cmd, nl + 1, cmd_len - used);
                cmd_len -= used;
            }
        }
    }
}
