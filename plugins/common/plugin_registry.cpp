// The library's entry points for TensorRT: getCreators (found by IPluginRegistry::loadLibrary,
// trtexec --dynamicPlugins / --setPluginsToSerialize) and setLoggerFinder — and a registrar that
// registers the creators when the library is opened in a process that has TensorRT loaded (ctypes.CDLL,
// trtexec --staticPlugins, DeepStream's custom-lib-path), as NVIDIA's plugin library does.
#include "../panoptic_fusion/plugin.h"
#include "../roi_align_fpn/plugin.h"
#include "../semantic_upsample_argmax/plugin.h"
#include "plugin_utils.h"

#include <atomic>
#include <dlfcn.h>

namespace trt_panoptic
{
namespace
{

// TensorRT's plugin-library protocol is a pair of C functions, so the logger finder it hands over
// has to live at namespace scope; it is set once at load time and only read afterwards.
std::atomic<nvinfer1::ILoggerFinder*> gLoggerFinder{nullptr};

} // namespace

void logMessage(nvinfer1::ILogger::Severity severity, std::string const& msg) noexcept
{
    try
    {
        nvinfer1::ILoggerFinder* finder = gLoggerFinder.load();
        nvinfer1::ILogger* logger = finder != nullptr ? finder->findLogger() : nullptr;
        if (logger != nullptr)
        {
            std::string const line = std::string("[trt_panoptic] ") + msg;
            logger->log(severity, line.c_str());
        }
    }
    catch (...)
    {
        // logging must never take the process down
    }
}

} // namespace trt_panoptic

// The library is built with hidden visibility; only these two entry points are exported.
#define TP_EXPORT __attribute__((visibility("default")))

extern "C"
{

TP_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    trt_panoptic::gLoggerFinder.store(finder);
}

TP_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    static trt_panoptic::RoIAlignFPNPluginCreator roiAlignCreator;
    static trt_panoptic::SemanticUpsampleArgmaxPluginCreator upsampleCreator;
    static trt_panoptic::PanopticFusionPluginCreator fusionCreator;
    static nvinfer1::IPluginCreatorInterface* const creators[] = {&roiAlignCreator, &upsampleCreator, &fusionCreator};
    nbCreators = 3;
    return creators;
}

} // extern "C"

namespace
{

//! Registers the creators on load when TensorRT's registry is in the process. getPluginRegistry is looked
//! up, not linked: the library builds against the headers alone and loads where libnvinfer is absent (the
//! smoke test). When loadLibrary opens the library, this has registered the creators first, so
//! loadLibrary "fails and returns None if any of the plugins are already registered" (its documentation):
//! no double registration, and the Python side counts registered creators as loaded.
struct StaticRegistrar
{
    StaticRegistrar() noexcept
    {
        using GetRegistry = nvinfer1::IPluginRegistry* (*) ();
        auto const getRegistry = reinterpret_cast<GetRegistry>(dlsym(RTLD_DEFAULT, "getPluginRegistry"));
        nvinfer1::IPluginRegistry* registry = getRegistry != nullptr ? getRegistry() : nullptr;
        if (registry == nullptr)
        {
            return; // no TensorRT in this process yet: loadLibrary (getCreators) registers them later
        }
        int32_t count = 0;
        nvinfer1::IPluginCreatorInterface* const* creators = getCreators(count);
        for (int32_t i = 0; i < count; ++i)
        {
            registry->registerCreator(*creators[i], trt_panoptic::kPluginNamespace);
        }
    }
};

StaticRegistrar const gRegistrar{};

} // namespace
