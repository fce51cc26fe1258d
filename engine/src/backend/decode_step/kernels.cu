// The fused kernels of one decode step (`mod.rs` gives the plan, and
// `reference.rs` what each computes), for NVIDIA GPUs: compiled to PTX by
// nvcc in a build with the `cuda` feature (engine/build.rs).
//
// Activations, sums and the KV cache are f32; the weight matrices are f32,
// f16 or bf16 ([n, k]: each output's weights contiguous), widened as they
// are loaded. The position and the ids are read from device memory, so a
// step's launches never change and can be captured once in a CUDA graph.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

// The launch's dynamic shared memory (a host test defines its own).
#ifndef DYNAMIC_SHARED
#define DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

#define THREADS 256
#define WARPS (THREADS / 32)
// Outputs per warp of the products: their weight rows are streamed side by side.
#define RPW 4
// Rows (beams, draft positions) a product takes at once; each weight is read
// once for all of them.
#define MAX_ROWS 8
// Positions per attention split: one thread each.
#define SPAN 256
#define EMPTY (-3.0e38f)

enum Prologue { PRO_PLAIN = 0, PRO_LN = 1, PRO_COMBINE = 2 };
enum Epilogue { EPI_STORE = 0, EPI_BIAS = 1, EPI_GELU = 2, EPI_RESIDUAL = 3 };

__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ float widen(__half v) { return __half2float(v); }
__device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }

// Values of W in one 16-byte load.
template <typename W> struct Lanes { static constexpr int N = 16 / sizeof(W); };

// The 16 bytes at `p` (16-byte aligned) widened to f32.
template <typename W>
__device__ __forceinline__ void load16(const W* __restrict__ p, float* out) {
    uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
    const W* v = reinterpret_cast<const W*>(&raw);
#pragma unroll
    for (int i = 0; i < Lanes<W>::N; i++) out[i] = widen(v[i]);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The sum of every thread's `v`; every thread gets it.
__device__ float block_sum(float v, float* scratch) {
    v = warp_sum(v);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float total = 0.0f;
#pragma unroll
    for (int i = 0; i < WARPS; i++) total += scratch[i];
    __syncthreads();
    return total;
}

__device__ float block_max(float v, float* scratch) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float m = scratch[0];
#pragma unroll
    for (int i = 1; i < WARPS; i++) m = fmaxf(m, scratch[i]);
    __syncthreads();
    return m;
}

// GPT-2's gelu_new, 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))).
__device__ __forceinline__ float gelu_new(float v) {
    const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    return 0.5f * v * (1.0f + tanhf(u));
}

// X[r] = wte[ids[r]] + wpe[pos]. Grid (rows), block THREADS.
template <typename W>
__device__ void embed(const unsigned* __restrict__ ids, const unsigned* __restrict__ pos,
                      const W* __restrict__ wte, const W* __restrict__ wpe,
                      float* __restrict__ x, int c) {
    const int r = blockIdx.x;
    const size_t tok = (size_t)ids[r] * c, at = (size_t)pos[0] * c;
    for (int i = threadIdx.x; i < c; i += THREADS)
        x[(size_t)r * c + i] = widen(wte[tok + i]) + widen(wpe[at + i]);
}

// out[r, j] = epilogue(prologue(x[r]) . w[j]) for `rows` rows and outputs
// j of this block: block b takes outputs b WARPS RPW .. (b + 1) WARPS RPW,
// RPW per warp. The input rows go through the prologue once, into shared
// memory ([rows, k] floats, the launch's dynamic shared memory); the warp's
// lanes then stride along k, 16 bytes of weights at a time where each row
// of w is 16-byte aligned (k a multiple of 16 / sizeof(W)), one value at a
// time otherwise. With KV (c_attn), outputs C .. 3C also go into the cache
// at position pos: keys, then values. Grid (ceil(n / (WARPS RPW))).
template <typename W, int PRO, int EPI, bool KV>
__device__ void matvec(const float* __restrict__ x, const float* __restrict__ gamma,
                       const float* __restrict__ beta, float eps, const W* __restrict__ w,
                       const float* __restrict__ bias, float* __restrict__ y,
                       float* __restrict__ kc, float* __restrict__ vc,
                       const unsigned* __restrict__ pos, int rows, int k, int n, int cap,
                       int heads, int splits) {
    DYNAMIC_SHARED(float, xs);
    __shared__ float scratch[WARPS];
    for (int r = 0; r < rows; r++) {
        float* dst = xs + (size_t)r * k;
        if (PRO == PRO_PLAIN) {
            for (int i = threadIdx.x; i < k; i += THREADS) dst[i] = x[(size_t)r * k + i];
        } else if (PRO == PRO_LN) {
            const float* row = x + (size_t)r * k;
            float s = 0.0f;
            for (int i = threadIdx.x; i < k; i += THREADS) s += row[i];
            const float mean = block_sum(s, scratch) / k;
            float v = 0.0f;
            for (int i = threadIdx.x; i < k; i += THREADS) {
                const float d = row[i] - mean;
                v += d * d;
            }
            const float inv = rsqrtf(block_sum(v, scratch) / k + eps);
            for (int i = threadIdx.x; i < k; i += THREADS)
                dst[i] = (row[i] - mean) * inv * gamma[i] + beta[i];
        } else {
            // The attention output from its splits' (m, l, o[D]).
            const int d_head = k / heads;
            for (int i = threadIdx.x; i < k; i += THREADS) {
                const int h = i / d_head, d = i % d_head;
                const float* p = x + ((size_t)r * heads + h) * splits * (d_head + 2);
                float m = EMPTY;
                for (int s = 0; s < splits; s++) m = fmaxf(m, p[s * (d_head + 2)]);
                float num = 0.0f, den = 0.0f;
                for (int s = 0; s < splits; s++) {
                    const float* q = p + s * (d_head + 2);
                    const float e = __expf(q[0] - m);
                    den += e * q[1];
                    num += e * q[2 + d];
                }
                dst[i] = num / den;
            }
        }
    }
    __syncthreads();

    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int n0 = (blockIdx.x * WARPS + warp) * RPW;
    float acc[RPW][MAX_ROWS];
#pragma unroll
    for (int o = 0; o < RPW; o++)
#pragma unroll
        for (int r = 0; r < MAX_ROWS; r++) acc[o][r] = 0.0f;
    constexpr int V = Lanes<W>::N;
    if (k % V == 0) {
        for (int i = lane * V; i < k; i += 32 * V) {
#pragma unroll
            for (int o = 0; o < RPW; o++) {
                if (n0 + o >= n) break;
                float wv[V];
                load16(w + (size_t)(n0 + o) * k + i, wv);
#pragma unroll
                for (int r = 0; r < MAX_ROWS; r++) {
                    if (r >= rows) break;
                    const float* xr = xs + (size_t)r * k + i;
#pragma unroll
                    for (int e = 0; e < V; e++) acc[o][r] += wv[e] * xr[e];
                }
            }
        }
    } else {
        for (int i = lane; i < k; i += 32) {
#pragma unroll
            for (int o = 0; o < RPW; o++) {
                if (n0 + o >= n) break;
                const float wv = widen(w[(size_t)(n0 + o) * k + i]);
#pragma unroll
                for (int r = 0; r < MAX_ROWS; r++) {
                    if (r >= rows) break;
                    acc[o][r] += wv * xs[(size_t)r * k + i];
                }
            }
        }
    }

    const int c = n / 3;
#pragma unroll
    for (int o = 0; o < RPW; o++) {
        const int j = n0 + o;
#pragma unroll
        for (int r = 0; r < MAX_ROWS; r++) {
            if (r >= rows) break;
            float v = warp_sum(acc[o][r]);
            if (lane != 0 || j >= n) continue;
            if (EPI != EPI_STORE) v += bias[j];
            if (EPI == EPI_GELU) v = gelu_new(v);
            const size_t at = (size_t)r * n + j;
            if (EPI == EPI_RESIDUAL) {
                y[at] += v;
            } else {
                y[at] = v;
            }
            if (KV && j >= c) {
                float* cache = j < 2 * c ? kc : vc;
                cache[((size_t)r * cap + pos[0]) * c + j % c] = v;
            }
        }
    }
}

// Split s of head h of row r: positions s SPAN .. min((s + 1) SPAN, pos + 1)
// of the context, one thread each, into part[r, h, s] = (m, l, o[D]): the
// largest score, the sum of exp(score - m), the sum of exp(score - m) v.
// Splits past the context weigh nothing (m = EMPTY, l = 0). Grid (splits,
// heads, rows), block SPAN; D <= SPAN.
__device__ void attention_split(const float* __restrict__ qkv, const float* __restrict__ kc,
                                const float* __restrict__ vc, float* __restrict__ part,
                                const unsigned* __restrict__ pos, int c, int heads, int cap,
                                int splits) {
    __shared__ float qs[SPAN];
    __shared__ float ex[SPAN];
    __shared__ float acc[4][SPAN];
    __shared__ float scratch[WARPS];
    const int s = blockIdx.x, h = blockIdx.y, r = blockIdx.z, tid = threadIdx.x;
    const int d_head = c / heads;
    const int ctx = (int)pos[0] + 1, p0 = s * SPAN;
    float* out = part + (((size_t)r * heads + h) * splits + s) * (d_head + 2);
    if (p0 >= ctx) {
        if (tid == 0) {
            out[0] = EMPTY;
            out[1] = 0.0f;
        }
        for (int d = tid; d < d_head; d += SPAN) out[2 + d] = 0.0f;
        return;
    }
    const int len = min(SPAN, ctx - p0);
    for (int d = tid; d < d_head; d += SPAN) qs[d] = qkv[(size_t)r * 3 * c + h * d_head + d];
    __syncthreads();
    const size_t base = (size_t)r * cap * c + (size_t)h * d_head;
    float score = EMPTY;
    if (tid < len) {
        const float* key = kc + base + (size_t)(p0 + tid) * c;
        float dot = 0.0f;
        for (int d = 0; d < d_head; d++) dot += qs[d] * key[d];
        score = dot * rsqrtf((float)d_head);
    }
    const float m = block_max(score, scratch);
    const float e = tid < len ? __expf(score - m) : 0.0f;
    ex[tid] = e;
    const float l = block_sum(e, scratch);
    // Quarter q sums positions q, q + 4, ... for dimensions lane, lane + 64, ...
    const int q = tid / 64, lane = tid % 64;
    for (int d = lane; d < d_head; d += 64) {
        float o = 0.0f;
        for (int p = q; p < len; p += 4) o += ex[p] * vc[base + (size_t)(p0 + p) * c + d];
        acc[q][d] = o;
    }
    __syncthreads();
    for (int d = tid; d < d_head; d += SPAN)
        out[2 + d] = acc[0][d] + acc[1][d] + acc[2][d] + acc[3][d];
    if (tid == 0) {
        out[0] = m;
        out[1] = l;
    }
}

// ids[r] = the first largest of logits[r] (as torch.argmax), also kept in
// history[r, pos + 1] while that is inside the cache; then pos += 1. One
// block takes every row, so that pos moves on after all have read it.
// Grid (1), block THREADS.
__device__ void argmax(const float* __restrict__ logits, unsigned* __restrict__ ids,
                       unsigned* __restrict__ pos, unsigned* __restrict__ history, int rows,
                       int cap, int v) {
    __shared__ float best_v[THREADS];
    __shared__ int best_i[THREADS];
    const int tid = threadIdx.x;
    const unsigned at = pos[0] + 1;
    for (int r = 0; r < rows; r++) {
        const float* row = logits + (size_t)r * v;
        float bv = -INFINITY;
        int bi = v;
        for (int j = tid; j < v; j += THREADS) {
            if (row[j] > bv) {
                bv = row[j];
                bi = j;
            }
        }
        best_v[tid] = bv;
        best_i[tid] = bi;
        __syncthreads();
        for (int s = THREADS / 2; s > 0; s >>= 1) {
            if (tid < s) {
                const float ov = best_v[tid + s];
                const int oi = best_i[tid + s];
                if (ov > best_v[tid] || (ov == best_v[tid] && oi < best_i[tid])) {
                    best_v[tid] = ov;
                    best_i[tid] = oi;
                }
            }
            __syncthreads();
        }
        if (tid == 0) {
            const unsigned id = best_i[0] < v ? best_i[0] : 0;
            ids[r] = id;
            if (at < (unsigned)cap) history[(size_t)r * cap + at] = id;
        }
        __syncthreads();
    }
    if (tid == 0) pos[0] = at;
}

// The entry points, by weight type: embed_<t>, the five products
// (c_attn, attn_proj, c_fc, mlp_proj, logits) as matvec_<t>_<role>, and the
// type-free attention_split and argmax.
#define PRODUCT_ARGS                                                                       \
    const float *x, const float *gamma, const float *beta, float eps, const T *w,          \
        const float *bias, float *y, float *kc, float *vc, const unsigned *pos, int rows, \
        int k, int n, int cap, int heads, int splits
#define PRODUCT_CALL x, gamma, beta, eps, w, bias, y, kc, vc, pos, rows, k, n, cap, heads, splits

#define ENTRY_POINTS(T, NAME)                                                                \
    extern "C" __global__ void __launch_bounds__(THREADS)                                   \
        embed_##NAME(const unsigned* ids, const unsigned* pos, const T* wte, const T* wpe,   \
                     float* x, int c) {                                                      \
        embed<T>(ids, pos, wte, wpe, x, c);                                                  \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(THREADS) matvec_##NAME##_c_attn(PRODUCT_ARGS) { \
        matvec<T, PRO_LN, EPI_BIAS, true>(PRODUCT_CALL);                                     \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(THREADS)                                   \
        matvec_##NAME##_attn_proj(PRODUCT_ARGS) {                                            \
        matvec<T, PRO_COMBINE, EPI_RESIDUAL, false>(PRODUCT_CALL);                           \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(THREADS) matvec_##NAME##_c_fc(PRODUCT_ARGS) { \
        matvec<T, PRO_LN, EPI_GELU, false>(PRODUCT_CALL);                                    \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(THREADS)                                   \
        matvec_##NAME##_mlp_proj(PRODUCT_ARGS) {                                             \
        matvec<T, PRO_PLAIN, EPI_RESIDUAL, false>(PRODUCT_CALL);                             \
    }                                                                                        \
    extern "C" __global__ void __launch_bounds__(THREADS) matvec_##NAME##_logits(PRODUCT_ARGS) { \
        matvec<T, PRO_LN, EPI_STORE, false>(PRODUCT_CALL);                                   \
    }

#define T float
ENTRY_POINTS(T, f32)
#undef T
#define T __half
ENTRY_POINTS(T, f16)
#undef T
#define T __nv_bfloat16
ENTRY_POINTS(T, bf16)
#undef T

extern "C" __global__ void __launch_bounds__(SPAN)
    attention_split_f32(const float* qkv, const float* kc, const float* vc, float* part,
                        const unsigned* pos, int c, int heads, int cap, int splits) {
    attention_split(qkv, kc, vc, part, pos, c, heads, cap, splits);
}

extern "C" __global__ void __launch_bounds__(THREADS)
    argmax_f32(const float* logits, unsigned* ids, unsigned* pos, unsigned* history, int rows,
               int cap, int v) {
    argmax(logits, ids, pos, history, rows, cap, v);
}
