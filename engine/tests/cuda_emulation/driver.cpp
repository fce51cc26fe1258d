// Runs launches of the decode step's kernels on the host, for
// `engine/tests/cuda_kernels_on_cpu.rs`: `kernels.cu` compiled as C++ over
// `emulation.h`. Reads from stdin the buffers (u64 length, bytes) and the
// launches (kernel name, grid, threads, shared bytes, arguments: 'b' and a
// buffer index, -1 for none; 'i' an i32; 'f' an f32), runs them in order,
// and writes every buffer back to stdout.
#include "emulation.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

#include "kernels.cu"

namespace {
template <typename T>
T read_value() {
    T v;
    if (std::fread(&v, sizeof v, 1, stdin) != 1) throw std::runtime_error("input ends early");
    return v;
}

struct Arg {
    char tag;
    void* p;
    int i;
    float f;
};

using Call = std::function<void(const std::vector<Arg>&)>;

#define P(T, n) static_cast<T*>(a[n].p)
#define MATVEC_CALL(fn, T)                                                                       \
    [](const std::vector<Arg>& a) {                                                              \
        fn(P(const float, 0), P(const float, 1), P(const float, 2), a[3].f, P(const T, 4),       \
           P(const float, 5), P(float, 6), P(float, 7), P(float, 8), P(const unsigned, 9),      \
           a[10].i, a[11].i, a[12].i, a[13].i, a[14].i, a[15].i);                              \
    }
#define TYPE_CALLS(NAME, T)                                                                      \
    calls["embed_" #NAME] = [](const std::vector<Arg>& a) {                                      \
        embed_##NAME(P(const unsigned, 0), P(const unsigned, 1), P(const T, 2), P(const T, 3),   \
                     P(float, 4), a[5].i);                                                       \
    };                                                                                           \
    calls["matvec_" #NAME "_c_attn"] = MATVEC_CALL(matvec_##NAME##_c_attn, T);                   \
    calls["matvec_" #NAME "_attn_proj"] = MATVEC_CALL(matvec_##NAME##_attn_proj, T);             \
    calls["matvec_" #NAME "_c_fc"] = MATVEC_CALL(matvec_##NAME##_c_fc, T);                       \
    calls["matvec_" #NAME "_mlp_proj"] = MATVEC_CALL(matvec_##NAME##_mlp_proj, T);               \
    calls["matvec_" #NAME "_logits"] = MATVEC_CALL(matvec_##NAME##_logits, T);

std::map<std::string, Call> all_calls() {
    std::map<std::string, Call> calls;
    TYPE_CALLS(f32, float)
    TYPE_CALLS(f16, __half)
    TYPE_CALLS(bf16, __nv_bfloat16)
    calls["attention_split_f32"] = [](const std::vector<Arg>& a) {
        attention_split_f32(P(const float, 0), P(const float, 1), P(const float, 2), P(float, 3),
                            P(const unsigned, 4), a[5].i, a[6].i, a[7].i, a[8].i);
    };
    calls["argmax_f32"] = [](const std::vector<Arg>& a) {
        argmax_f32(P(const float, 0), P(unsigned, 1), P(unsigned, 2), P(unsigned, 3), a[4].i,
                   a[5].i, a[6].i);
    };
    return calls;
}
}  // namespace

int main() {
    try {
        const auto calls = all_calls();
        std::vector<std::vector<unsigned char>> bufs(read_value<uint32_t>());
        std::vector<unsigned char*> base;
        for (auto& b : bufs) {
            // 16-byte aligned storage, as cudaMalloc's.
            b.resize(read_value<uint64_t>() + 16);
            auto* p = b.data();
            p += (16 - reinterpret_cast<uintptr_t>(p) % 16) % 16;
            base.push_back(p);
            if (std::fread(p, 1, b.size() - 16, stdin) != b.size() - 16)
                throw std::runtime_error("a buffer ends early");
        }
        const uint32_t launches = read_value<uint32_t>();
        for (uint32_t l = 0; l < launches; l++) {
            std::string name(read_value<uint32_t>(), '\0');
            if (std::fread(name.data(), 1, name.size(), stdin) != name.size())
                throw std::runtime_error("a name ends early");
            dim3 grid;
            grid.x = read_value<uint32_t>();
            grid.y = read_value<uint32_t>();
            grid.z = read_value<uint32_t>();
            const uint32_t threads = read_value<uint32_t>(), shared = read_value<uint32_t>();
            std::vector<Arg> args(read_value<uint32_t>());
            for (auto& a : args) {
                a.tag = read_value<char>();
                if (a.tag == 'b') {
                    const int32_t i = read_value<int32_t>();
                    a.p = i < 0 ? nullptr : base.at(i);
                } else if (a.tag == 'i') {
                    a.i = read_value<int32_t>();
                } else if (a.tag == 'f') {
                    a.f = read_value<float>();
                } else {
                    throw std::runtime_error("an argument of unknown kind");
                }
            }
            const auto call = calls.find(name);
            if (call == calls.end()) throw std::runtime_error("no kernel " + name);
            emu::launch(grid, threads, shared, [&] { call->second(args); });
        }
        for (size_t i = 0; i < bufs.size(); i++) std::fwrite(base[i], 1, bufs[i].size() - 16, stdout);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "driver: %s\n", e.what());
        return 1;
    }
}
