// What every plugin's host_api.cpp shares: one-line errors, field parsing behind a C signature, and a
// parallel loop. The host library (libtrt_panoptic_host.so) is host/host_api.cpp plus each plugin folder's
// host_api.cpp; Python loads it with ctypes (trt_panoptic/plugins/host.py).
#pragma once

#include "fields.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace trt_panoptic
{
namespace host
{

inline int32_t fail(char* err, int32_t errLen, std::string const& msg)
{
    if (err != nullptr && errLen > 0)
    {
        std::snprintf(err, static_cast<size_t>(errLen), "%s", msg.c_str());
    }
    return 1;
}

inline void joinNames(std::vector<std::string> const& names, char* out, int32_t outLen)
{
    std::string s;
    for (auto const& n : names)
    {
        s += (s.empty() ? "" : ",") + n;
    }
    if (out != nullptr && outLen > 0)
    {
        std::snprintf(out, static_cast<size_t>(outLen), "%s", s.c_str());
    }
}

//! parseIntFields behind a C signature: *out only on success, unknown names comma-separated in ignored.
template <typename Params, typename Spec>
int32_t parseFields(Spec const& spec, FieldView const* fields, int32_t nbFields,
    Params* out, char* ignored, int32_t ignoredLen, char* err, int32_t errLen)
{
    Params p;
    std::string msg;
    std::vector<std::string> unknown;
    if (!parseIntFields(spec, fields, nbFields, p, msg, &unknown))
    {
        return fail(err, errLen, msg);
    }
    joinNames(unknown, ignored, ignoredLen);
    *out = p;
    return 0;
}

//! intFieldsToSerialize into a caller's array of capacity entries; returns how many fields there are.
template <typename Params, typename Spec>
int32_t serializeFields(Spec const& spec, Params const& p, FieldView* out, int32_t capacity)
{
    auto const fields = intFieldsToSerialize(spec, p);
    int32_t const n = static_cast<int32_t>(fields.size());
    for (int32_t i = 0; i < n && i < capacity; ++i)
    {
        out[i] = fields[static_cast<size_t>(i)];
    }
    return n;
}


//! Runs fn(begin, end) over [0, total) split into contiguous chunks on up to numThreads threads
//! (<= 0: the hardware concurrency). Chunks write disjoint outputs, so results do not depend on it.
template <typename Fn>
void parallelFor(int64_t total, int32_t numThreads, Fn const& fn)
{
    int64_t threads = numThreads > 0 ? numThreads : static_cast<int64_t>(std::thread::hardware_concurrency());
    threads = threads < 1 ? 1 : (threads > total ? total : threads);
    if (threads <= 1)
    {
        fn(static_cast<int64_t>(0), total);
        return;
    }
    std::vector<std::thread> pool;
    int64_t const chunk = (total + threads - 1) / threads;
    for (int64_t begin = 0; begin < total; begin += chunk)
    {
        int64_t const end = begin + chunk < total ? begin + chunk : total;
        pool.emplace_back([&fn, begin, end] { fn(begin, end); });
    }
    for (auto& t : pool)
    {
        t.join();
    }
}

} // namespace host
} // namespace trt_panoptic
