// Just enough of CUDA, on the host, to run the decode step's kernels
// (`engine/src/backend/decode_step/kernels.cu`) unchanged for the test: a
// block's threads are host threads that run together, one block after
// another; __syncthreads is a barrier of the block, a warp shuffle an
// exchange through memory between two barriers of the warp's 32 threads,
// __shared__ memory a static (one block runs at a time).
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
struct uint4 {
    unsigned x, y, z, w;
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(emu::dynamic_shared())

using std::min;

namespace emu {
struct Block {
    std::unique_ptr<std::barrier<>> all;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<float> exchange;  // [threads]
    std::vector<unsigned char> shared;
};
inline Block* block = nullptr;
inline void* dynamic_shared() { return block->shared.data(); }

// Runs `kernel` on every block of `grid`, `threads` threads each.
inline void launch(dim3 grid, unsigned threads, size_t shared, const std::function<void()>& kernel) {
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                Block b;
                b.all = std::make_unique<std::barrier<>>(threads);
                for (unsigned w = 0; w < (threads + 31) / 32; w++)
                    b.warps.push_back(std::make_unique<std::barrier<>>(std::min(32u, threads - 32 * w)));
                b.exchange.assign(threads, 0.0f);
                b.shared.assign(shared, 0);
                block = &b;
                std::vector<std::thread> team;
                for (unsigned t = 0; t < threads; t++)
                    team.emplace_back([&, t] {
                        threadIdx = dim3{t, 0, 0};
                        blockIdx = dim3{x, y, z};
                        kernel();
                    });
                for (auto& t : team) t.join();
                block = nullptr;
            }
}
}  // namespace emu

inline void __syncthreads() { emu::block->all->arrive_and_wait(); }

inline float __shfl_xor_sync(unsigned, float v, int lane_mask) {
    const unsigned t = threadIdx.x, warp = t / 32, lane = t % 32;
    auto& bar = *emu::block->warps[warp];
    emu::block->exchange[t] = v;
    bar.arrive_and_wait();
    const float other = emu::block->exchange[warp * 32 + (lane ^ (unsigned)lane_mask)];
    bar.arrive_and_wait();
    return other;
}

inline uint4 __ldg(const uint4* p) { return *p; }
inline float __expf(float x) { return std::exp(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
