// The host stand-in of CUDA's bfloat16 type for the kernels' CPU test.
#pragma once
#include <cstdint>
#include <cstring>

struct __nv_bfloat16 {
    uint16_t bits;
};

inline float __bfloat162float(__nv_bfloat16 h) {
    const uint32_t out = (uint32_t)h.bits << 16;
    float f;
    std::memcpy(&f, &out, 4);
    return f;
}
