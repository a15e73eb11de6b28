/* Fused, event-driven fixed-point ΣΔ network: the compiled path of lprnn.snn.simulate.
 *
 * Computes exactly what lprnn/snn/simulator.py documents (and its pure-torch path computes),
 * one sample at a time. Per SNN step n and layer l, in order:
 *
 *   a_l(n) = (W_l · s_{l−1}(n−1)) << e_W + (U_l · s_l(n−1−D_l)) << e_U
 *   a_0(n) = (W_0 · x_int[(n−1)/k]) << e_W0 for n ≥ 1, a_0(0) = 0
 *   i_in ← sat(decay(i_in, d_in) + a)
 *   u    = i_in + bias            (clip(u, 0, drive_max) when the layer has a drive_max)
 *   i_ip ← clip(decay(i_ip, d_ip) + u, 0, MAX)
 *   v    ← clip(decay(v, d_v) + i_ip + i_fb, 0, MAX)
 *   s    = v > θ ;  v ← 0 where s
 *   i_fb ← sat(decay(i_fb, d_fb) + w_fb · s)
 *
 * Graded spikes (payload_max P > 1): s = clip(⌈(v − θ)/|w_fb|⌉, 0, P), an event where s > 0
 * that carries its payload s (the binary spike is P = 1).
 *
 * decay(x, d) = sign(x) · ((|x| · (4096 − d) + o) >> 12), o the layer's rounding offset (0:
 * truncate, 2048: nearest), sat = clip to ±MAX, MAX = 2^23 − 1.
 *
 * Why 32-bit integers are exact here (the caller, lprnn/snn/kernel.py, checks the premises):
 * - states stay in [−MAX, MAX] after every step, so |x| < 2^23 and, with |x| = h·2^12 + r,
 *   (|x|·m + o) >> 12 = h·m + ((r·m + o) >> 12) with h·m ≤ 2^23 and r·m + o < 2^25
 *   (m = 4096 − d ≤ 4096, o ≤ 2048);
 * - M · s over payloads 0…P, M the 8-bit mantissas, is below 128 · n_in · P < 2^31
 *   (n_in · P < 2^23); w_fb · s is formed in 64 bits;
 * - a is formed in 64 bits, then clipped to ±2^30: since |decay(i_in)| < 2^23, this does not
 *   change sat(decay(i_in) + a), and the sum fits 32 bits; |bias| < 2^30 is required too.
 * Spikes propagate as events: only the weight rows of the neurons that spiked are added
 * (times their payloads, for graded spikes).
 * Weights arrive transposed ([n_in][n_out]) as 8-bit mantissas m = w / 2^g, g the matrix's
 * common power of two (1 for Lava's even 8-bit weights), with g added to the exponent by the
 * caller: shift(2^g·S, e) = shift(S, e + g) exactly, for either sign of e.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <limits.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define STATE_MAX 8388607
#define DRIVE_LIMIT 1073741824LL
#define MAX_LAYERS 16
#define RING_MAX 66                  /* recurrent_delay + 2 ≤ RING_MAX */

typedef struct {
    int32_t n_in, n_out;
    const int8_t *weights_t;      /* [n_in][n_out] mantissas; layer 0: graded input weights */
    int32_t weight_exp;
    const int8_t *recurrent_t;    /* [n_out][n_out] mantissas, or NULL */
    int32_t recurrent_exp;
    int32_t recurrent_delay;
    const int32_t *bias;          /* [n_out] */
    int32_t decay_in, decay_ip, decay_v, decay_fb;  /* as 4096 − d: the retained fraction */
    int32_t feedback_weight, threshold, drive_max;  /* drive_max < 0: none */
    int32_t payload_max;                            /* 1: binary spikes; > 1: graded */
    int32_t decay_offset;                           /* rounding: 0 truncate, 2048 nearest */
} layer_t;

typedef struct {
    /* per sample outputs (any pointer may be NULL when not wanted) */
    int64_t *window_sum;          /* [B][n_last]: spike counts or Σ −i_fb over the window */
    int64_t *counts[MAX_LAYERS];  /* [B][n_l] spikes over the whole run */
    int64_t *saturated_steps[MAX_LAYERS];  /* [B] steps with a state at ±MAX after it */
    int64_t *state_max[MAX_LAYERS];        /* [B] largest |state| (NULL: not tracked) */
    uint8_t *spike_record[MAX_LAYERS];     /* [B][N][n_l] payloads (0/1 if binary) or NULL */
    int64_t *decoded_sum[MAX_LAYERS];      /* [B][T][n_l] Σ −i_fb per ANN step, or NULL */
} outputs_t;

static inline int64_t shift(int64_t x, int32_t e) {
    return e >= 0 ? x * ((int64_t)1 << e) : x >> (-e);
}

static inline int32_t decay(int32_t x, int32_t keep, int32_t offset) {
    int32_t sign = x >> 31;                        /* 0 or −1: |x| = (x ^ sign) − sign */
    int32_t magnitude = (x ^ sign) - sign;
    int32_t kept = (magnitude >> 12) * keep + (((magnitude & 4095) * keep + offset) >> 12);
    return (kept ^ sign) - sign;
}

static inline int32_t clip(int32_t x, int32_t low, int32_t high) {
    return x < low ? low : (x > high ? high : x);
}

static inline int64_t clip64(int64_t x, int64_t low, int64_t high) {
    return x < low ? low : (x > high ? high : x);
}

/* The update shared by both spike kinds: i_in, i_ip and v of one neuron (file header). */
static inline void subthreshold(const layer_t *L, int32_t i_in, int32_t i_ip, int32_t v,
                                int32_t i_fb, int32_t input, int32_t bias, int32_t low,
                                int32_t high, int32_t *in, int32_t *ip, int32_t *vv) {
    *in = clip(decay(i_in, L->decay_in, L->decay_offset) + input, -STATE_MAX, STATE_MAX);
    int32_t u = clip(*in + bias, low, high);
    *ip = clip(decay(i_ip, L->decay_ip, L->decay_offset) + u, 0, STATE_MAX);
    *vv = clip(decay(v, L->decay_v, L->decay_offset) + *ip + i_fb, 0, STATE_MAX);
}

/* One step of every neuron of a layer with binary spikes; fired[j] = −1 where neuron j
 * spiked, else 0. Returns non-zero when a state ends the step at ±STATE_MAX (saturation). */
__attribute__((noinline)) static int32_t neuron_update(
    const layer_t *L, int32_t *restrict i_in, int32_t *restrict i_ip, int32_t *restrict v,
    int32_t *restrict i_fb, const int32_t *restrict input, int32_t *restrict fired) {
    const int32_t keep_fb = L->decay_fb, w_fb = L->feedback_weight, theta = L->threshold;
    const int32_t low = L->drive_max >= 0 ? 0 : INT32_MIN,
                  high = L->drive_max >= 0 ? L->drive_max : INT32_MAX;
    const int32_t *restrict bias = L->bias;
    int32_t saturated = 0;
    for (int32_t j = 0; j < L->n_out; j++) {
        int32_t in, ip, vv;
        subthreshold(L, i_in[j], i_ip[j], v[j], i_fb[j], input[j], bias[j], low, high,
                     &in, &ip, &vv);
        int32_t spike = -(vv > theta);
        vv &= ~spike;
        int32_t fb = clip(decay(i_fb[j], keep_fb, L->decay_offset) + (spike & w_fb), -STATE_MAX, STATE_MAX);
        i_in[j] = in; i_ip[j] = ip; v[j] = vv; i_fb[j] = fb;
        fired[j] = spike;
        saturated |= (in == STATE_MAX) | (in == -STATE_MAX) | (ip == STATE_MAX)
                     | (vv == STATE_MAX) | (fb == STATE_MAX) | (fb == -STATE_MAX);
    }
    return saturated;
}

/* The same step with graded spikes: payload[j] = clip(⌈(v − θ)/|w_fb|⌉, 0, P), fired[j] = −1
 * where it is > 0. */
__attribute__((noinline)) static int32_t neuron_update_graded(
    const layer_t *L, int32_t *restrict i_in, int32_t *restrict i_ip, int32_t *restrict v,
    int32_t *restrict i_fb, const int32_t *restrict input, int32_t *restrict fired,
    int32_t *restrict payload) {
    const int32_t keep_fb = L->decay_fb, w_fb = L->feedback_weight, theta = L->threshold,
                  payload_max = L->payload_max;
    const int32_t low = L->drive_max >= 0 ? 0 : INT32_MIN,
                  high = L->drive_max >= 0 ? L->drive_max : INT32_MAX;
    const int32_t *restrict bias = L->bias;
    int32_t saturated = 0;
    for (int32_t j = 0; j < L->n_out; j++) {
        int32_t in, ip, vv;
        subthreshold(L, i_in[j], i_ip[j], v[j], i_fb[j], input[j], bias[j], low, high,
                     &in, &ip, &vv);
        /* ⌈(v − θ)/|w_fb|⌉ for v > θ (both below 2^23: no overflow), at most P */
        int32_t s = vv > theta ? (vv - theta - w_fb - 1) / -w_fb : 0;
        s = s > payload_max ? payload_max : s;
        int32_t spike = -(s > 0);
        vv &= ~spike;
        int32_t fb = (int32_t)clip64((int64_t)decay(i_fb[j], keep_fb, L->decay_offset) + (int64_t)w_fb * s,
                                     -STATE_MAX, STATE_MAX);
        i_in[j] = in; i_ip[j] = ip; v[j] = vv; i_fb[j] = fb;
        fired[j] = spike;
        payload[j] = s;
        saturated |= (in == STATE_MAX) | (in == -STATE_MAX) | (ip == STATE_MAX)
                     | (vv == STATE_MAX) | (fb == STATE_MAX) | (fb == -STATE_MAX);
    }
    return saturated;
}

static int32_t largest_magnitude(const int32_t *restrict x, int32_t n) {
    int32_t peak = 0;
    for (int32_t j = 0; j < n; j++) {
        int32_t sign = x[j] >> 31, magnitude = (x[j] ^ sign) - sign;
        peak = magnitude > peak ? magnitude : peak;
    }
    return peak;
}

/* The indices of the neurons that fired (fired[j] = −1), in order; returns their number. */
static int32_t spiking(const int32_t *restrict fired, int32_t n, int32_t *restrict out) {
    int32_t count = 0, j = 0;
#if defined(__AVX2__)
    for (; j + 8 <= n; j += 8) {   /* 8 neurons per test: most groups have no spike */
        unsigned mask = (unsigned)_mm256_movemask_ps(
            _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(fired + j))));
        while (mask) {
            out[count++] = j + __builtin_ctz(mask);
            mask &= mask - 1;
        }
    }
#endif
    for (; j < n; j++) {
        out[count] = j;
        count -= fired[j];
    }
    return count;
}

/* acc += the rows of the neurons that spiked (events): the event-driven synaptic input. */
__attribute__((noinline)) static void add_rows(int32_t *restrict acc,
                                               const int8_t *restrict rows_t, int32_t n_out,
                                               const int32_t *restrict events, int32_t n_events) {
    for (int32_t e = 0; e < n_events; e++) {
        const int8_t *restrict row = rows_t + (int64_t)events[e] * n_out;
        int32_t j = 0;
#if defined(__AVX2__)
        /* gcc jams this loop nest into a scalar one; spell out the widening add. */
        for (; j + 16 <= n_out; j += 16) {
            __m256i low = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + j)));
            __m256i high = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + j + 8)));
            __m256i *a0 = (__m256i *)(acc + j), *a1 = (__m256i *)(acc + j + 8);
            _mm256_storeu_si256(a0, _mm256_add_epi32(_mm256_loadu_si256(a0), low));
            _mm256_storeu_si256(a1, _mm256_add_epi32(_mm256_loadu_si256(a1), high));
        }
#endif
        for (; j < n_out; j++) acc[j] += row[j];
    }
}

/* acc += the rows of the neurons that spiked times their payloads (graded spikes). */
__attribute__((noinline)) static void add_weighted_rows(int32_t *restrict acc, const int8_t *restrict rows_t,
                              int32_t n_out, const int32_t *restrict events,
                              const int32_t *restrict payloads, int32_t n_events) {
    for (int32_t e = 0; e < n_events; e++) {
        const int8_t *restrict row = rows_t + (int64_t)events[e] * n_out;
        const int32_t p = payloads[e];
        int32_t j = 0;
#if defined(__AVX2__)
        /* as in add_rows, with the widened row multiplied by the payload */
        const __m256i payload = _mm256_set1_epi32(p);
        for (; j + 16 <= n_out; j += 16) {
            __m256i low = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + j)));
            __m256i high = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(row + j + 8)));
            __m256i *a0 = (__m256i *)(acc + j), *a1 = (__m256i *)(acc + j + 8);
            _mm256_storeu_si256(a0, _mm256_add_epi32(_mm256_loadu_si256(a0),
                                                     _mm256_mullo_epi32(low, payload)));
            _mm256_storeu_si256(a1, _mm256_add_epi32(_mm256_loadu_si256(a1),
                                                     _mm256_mullo_epi32(high, payload)));
        }
#endif
        for (; j < n_out; j++) acc[j] += p * row[j];
    }
}

/* The synaptic input of a connection from a layer's events of one step. */
static void add_events(int32_t *restrict acc, const int8_t *restrict rows_t, int32_t n_out,
                       const int32_t *restrict events, const int32_t *restrict payloads,
                       int32_t n_events, int32_t graded) {
    if (graded) add_weighted_rows(acc, rows_t, n_out, events, payloads, n_events);
    else add_rows(acc, rows_t, n_out, events, n_events);
}

/* Returns 0, or −1 when a buffer cannot be allocated. x_int: [B][T][n_inputs] int32. */
int lprnn_simulate(int32_t n_layers, const layer_t *layers, int32_t batch, int32_t n_ann,
                   int32_t k, const int32_t *x_int, int32_t window_start,
                   int32_t decoded_readout, outputs_t *out) {
    int32_t n_total = 0, n_slots_total = 0, widest = 0;
    for (int32_t l = 0; l < n_layers; l++) {
        n_total += layers[l].n_out;
        n_slots_total += (layers[l].recurrent_delay + 2) * layers[l].n_out;
        if (layers[l].n_out > widest) widest = layers[l].n_out;
    }
    int32_t *state = malloc(sizeof(int32_t) * 4 * (size_t)n_total);
    int32_t *events = malloc(sizeof(int32_t) * (size_t)n_slots_total);
    int32_t *payloads = malloc(sizeof(int32_t) * (size_t)n_slots_total);  /* per event */
    int32_t *payload = malloc(sizeof(int32_t) * (size_t)widest);          /* per neuron */
    int32_t *n_events = malloc(sizeof(int32_t) * (size_t)n_layers * RING_MAX);
    int32_t *acc_ff = malloc(sizeof(int32_t) * (size_t)widest);
    int32_t *acc_rec = malloc(sizeof(int32_t) * (size_t)widest);
    int64_t *drive0 = malloc(sizeof(int64_t) * (size_t)layers[0].n_out);
    int64_t *drive = malloc(sizeof(int64_t) * (size_t)widest);
    int32_t *input = malloc(sizeof(int32_t) * (size_t)widest);
    int32_t *fired = malloc(sizeof(int32_t) * (size_t)widest);
    if (!state || !events || !n_events || !acc_ff || !acc_rec || !drive0 || !input || !fired
        || !drive || !payloads || !payload) {
        free(state); free(events); free(n_events); free(acc_ff); free(acc_rec); free(drive0);
        free(input); free(fired); free(drive); free(payloads); free(payload);
        return -1;
    }
    const int32_t n_in0 = layers[0].n_in, n_steps = n_ann * k;
    for (int32_t b = 0; b < batch; b++) {
        memset(state, 0, sizeof(int32_t) * 4 * (size_t)n_total);
        memset(n_events, 0, sizeof(int32_t) * (size_t)n_layers * RING_MAX);
        /* Events of layer l at step m live in ring slot m mod (D_l + 2): the next layer reads
         * step n − 1 while this layer writes step n, and the recurrence reads n − 1 − D_l. */
        for (int32_t n = 0; n < n_steps; n++) {
            int32_t *state_l = state, *events_l = events, *payloads_l = payloads;
            int32_t *prev_events = NULL, *prev_payloads = NULL, prev_ring = 1, prev_graded = 0;
            for (int32_t l = 0; l < n_layers; l++) {
                const layer_t *L = &layers[l];
                const int32_t n_out = L->n_out, ring = L->recurrent_delay + 2,
                              graded = L->payload_max > 1;
                int32_t *i_in = state_l, *i_ip = state_l + n_out, *v = state_l + 2 * n_out,
                        *i_fb = state_l + 3 * n_out;
                if (l == 0) {
                    if (n >= 1 && (n - 1) % k == 0) {  /* a new ANN step: graded input drive */
                        const int32_t *x = x_int + ((int64_t)b * n_ann + (n - 1) / k) * n_in0;
                        for (int32_t j = 0; j < n_out; j++) drive0[j] = 0;
                        for (int32_t f = 0; f < n_in0; f++) {
                            if (x[f] == 0) continue;
                            const int8_t *row = L->weights_t + (int64_t)f * n_out;
                            for (int32_t j = 0; j < n_out; j++) drive0[j] += (int64_t)x[f] * row[j];
                        }
                        for (int32_t j = 0; j < n_out; j++)
                            drive0[j] = shift(drive0[j], L->weight_exp);
                    }
                } else {
                    memset(acc_ff, 0, sizeof(int32_t) * (size_t)n_out);
                    if (n >= 1) {  /* s_{l−1}(n − 1): layer l − 1 already wrote step n */
                        int32_t slot = (n - 1) % prev_ring;
                        add_events(acc_ff, L->weights_t, n_out, prev_events + slot * L->n_in,
                                   prev_payloads + slot * L->n_in,
                                   n_events[(l - 1) * RING_MAX + slot], prev_graded);
                    }
                }
                int32_t has_recurrent = L->recurrent_t != NULL;
                if (has_recurrent) {
                    memset(acc_rec, 0, sizeof(int32_t) * (size_t)n_out);
                    int32_t m = n - 1 - L->recurrent_delay;
                    if (m >= 0) {
                        int32_t slot = m % ring;
                        add_events(acc_rec, L->recurrent_t, n_out, events_l + slot * n_out,
                                   payloads_l + slot * n_out, n_events[l * RING_MAX + slot],
                                   graded);
                    }
                }
                /* The synaptic input of every neuron, then one branch-free (vectorized)
                 * pass of the neuron update, then the list of the neurons that fired. */
                if (l == 0) {
                    for (int32_t j = 0; j < n_out; j++) drive[j] = n >= 1 ? drive0[j] : 0;
                } else {
                    const int32_t e = L->weight_exp;
                    for (int32_t j = 0; j < n_out; j++) drive[j] = shift(acc_ff[j], e);
                }
                if (has_recurrent) {
                    const int32_t e = L->recurrent_exp;
                    for (int32_t j = 0; j < n_out; j++) drive[j] += shift(acc_rec[j], e);
                }
                for (int32_t j = 0; j < n_out; j++)
                    input[j] = (int32_t)clip64(drive[j], -DRIVE_LIMIT, DRIVE_LIMIT);
                int32_t saturated = graded
                    ? neuron_update_graded(L, i_in, i_ip, v, i_fb, input, fired, payload)
                    : neuron_update(L, i_in, i_ip, v, i_fb, input, fired);
                int32_t slot_now = n % ring, count = 0;
                int32_t *now = events_l + slot_now * n_out;
                int32_t *now_payload = payloads_l + slot_now * n_out;
                count = spiking(fired, n_out, now);
                for (int32_t e = 0; e < count; e++) now_payload[e] = graded ? payload[now[e]] : 1;
                n_events[l * RING_MAX + slot_now] = count;
                int64_t *counts = out->counts[l] + (int64_t)b * n_out;
                for (int32_t e = 0; e < count; e++) counts[now[e]] += 1;
                out->saturated_steps[l][b] += saturated;
                if (out->state_max[l]) {
                    int32_t peak = largest_magnitude(state_l, 4 * n_out);
                    if (peak > out->state_max[l][b]) out->state_max[l][b] = peak;
                }
                if (out->spike_record[l]) {
                    uint8_t *rec = out->spike_record[l] + ((int64_t)b * n_steps + n) * n_out;
                    for (int32_t e = 0; e < count; e++) rec[now[e]] = (uint8_t)now_payload[e];
                }
                if (out->decoded_sum[l]) {
                    int64_t *dec = out->decoded_sum[l] + ((int64_t)b * n_ann + n / k) * n_out;
                    for (int32_t j = 0; j < n_out; j++) dec[j] -= i_fb[j];
                }
                if (l == n_layers - 1 && n >= window_start) {
                    int64_t *sum = out->window_sum + (int64_t)b * n_out;
                    if (decoded_readout)
                        for (int32_t j = 0; j < n_out; j++) sum[j] -= i_fb[j];
                    else
                        for (int32_t e = 0; e < count; e++) sum[now[e]] += now_payload[e];
                }
                prev_events = events_l;
                prev_payloads = payloads_l;
                prev_ring = ring;
                prev_graded = graded;
                state_l += 4 * n_out;
                events_l += ring * n_out;
                payloads_l += ring * n_out;
            }
        }
    }
    free(state); free(events); free(n_events); free(acc_ff); free(acc_rec); free(drive0);
    free(input); free(fired); free(drive); free(payloads); free(payload);
    return 0;
}
