// Drives libtrt_panoptic_plugins.so through TensorRT's public interfaces the way TensorRT does (no
// TensorRT library, no GPU: nothing here reaches enqueue): getCreators, field names, createPlugin,
// capability interfaces, output types/formats, configurePlugin, getFieldsToSerialize -> createPlugin
// round trip, bad fields logged through setLoggerFinder. Prints "OK" and exits 0 when every check holds.
#include "NvInferRuntime.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators);
extern "C" void setLoggerFinder(nvinfer1::ILoggerFinder* finder);

using namespace nvinfer1;

namespace
{

int gFailures = 0;

#define CHECK(cond)                                                                                                    \
    do                                                                                                                 \
    {                                                                                                                  \
        if (!(cond))                                                                                                   \
        {                                                                                                              \
            std::printf("FAILED line %d: %s\n", __LINE__, #cond);                                                      \
            ++gFailures;                                                                                               \
        }                                                                                                              \
    } while (0)

class Logger : public ILogger
{
public:
    void log(Severity severity, AsciiChar const* msg) noexcept override
    {
        messages.push_back(std::to_string(static_cast<int>(severity == Severity::kERROR)) + msg);
    }
    bool saw(char const* text, bool error) const
    {
        for (auto const& m : messages)
        {
            if (m[0] == (error ? '1' : '0') && m.find(text) != std::string::npos)
            {
                return true;
            }
        }
        return false;
    }
    std::vector<std::string> messages;
};

class Finder : public ILoggerFinder
{
public:
    explicit Finder(ILogger* logger)
        : mLogger(logger)
    {
    }
    ILogger* findLogger() override
    {
        return mLogger;
    }

private:
    ILogger* mLogger;
};

IPluginCreatorV3One* findCreator(char const* name)
{
    int32_t n = 0;
    IPluginCreatorInterface* const* creators = getCreators(n);
    for (int32_t i = 0; i < n; ++i)
    {
        CHECK(std::strcmp(creators[i]->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") == 0);
        auto* c = static_cast<IPluginCreatorV3One*>(creators[i]);
        if (std::strcmp(c->getPluginName(), name) == 0)
        {
            return c;
        }
    }
    return nullptr;
}

int32_t fieldValue(PluginFieldCollection const* fc, char const* name)
{
    for (int32_t i = 0; i < fc->nbFields; ++i)
    {
        if (std::strcmp(fc->fields[i].name, name) == 0 && fc->fields[i].type == PluginFieldType::kINT32)
        {
            return *static_cast<int32_t const*>(fc->fields[i].data);
        }
    }
    return -12345;
}

DynamicPluginTensorDesc desc(std::vector<int64_t> const& dims, DataType type)
{
    DynamicPluginTensorDesc d{};
    d.desc.dims.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i)
    {
        d.desc.dims.d[i] = dims[i];
    }
    d.desc.type = type;
    d.desc.format = TensorFormat::kLINEAR;
    d.min = d.max = d.opt = d.desc.dims;
    return d;
}

void checkRoIAlignFPN(Logger& logger)
{
    IPluginCreatorV3One* creator = findCreator("RoIAlignFPN");
    CHECK(creator != nullptr);
    if (creator == nullptr)
    {
        return;
    }
    CHECK(std::strcmp(creator->getPluginVersion(), "1") == 0);
    CHECK(std::strcmp(creator->getPluginNamespace(), "trt_panoptic") == 0);
    PluginFieldCollection const* names = creator->getFieldNames();
    CHECK(names->nbFields == 5);
    CHECK(std::strcmp(names->fields[0].name, "output_size") == 0);

    int32_t outputSize = 14;
    int32_t samplingRatio = 2;
    PluginField fields[] = {PluginField("output_size", &outputSize, PluginFieldType::kINT32, 1),
        PluginField("sampling_ratio", &samplingRatio, PluginFieldType::kINT32, 1)};
    PluginFieldCollection fc{2, fields};
    IPluginV3* plugin = creator->createPlugin("roi", &fc, TensorRTPhase::kBUILD);
    CHECK(plugin != nullptr);
    if (plugin == nullptr)
    {
        return;
    }
    auto* core = static_cast<IPluginV3OneCore*>(plugin->getCapabilityInterface(PluginCapabilityType::kCORE));
    auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
    auto* runtime = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    CHECK(std::strcmp(core->getPluginName(), "RoIAlignFPN") == 0);
    CHECK(std::strcmp(core->getPluginNamespace(), "trt_panoptic") == 0);
    CHECK(build->getNbOutputs() == 1);

    DataType in[5] = {DataType::kFLOAT, DataType::kHALF, DataType::kHALF, DataType::kHALF, DataType::kHALF};
    DataType out[1] = {DataType::kFLOAT};
    CHECK(build->getOutputDataTypes(out, 1, in, 5) == 0 && out[0] == DataType::kHALF);

    std::vector<DynamicPluginTensorDesc> io = {desc({100, 4}, DataType::kFLOAT), desc({1, 256, 64, 96}, DataType::kHALF),
        desc({1, 256, 32, 48}, DataType::kHALF), desc({1, 256, 16, 24}, DataType::kHALF),
        desc({1, 256, 8, 12}, DataType::kHALF), desc({100, 256, 14, 14}, DataType::kHALF)};
    CHECK(build->supportsFormatCombination(0, io.data(), 5, 1));
    CHECK(build->supportsFormatCombination(5, io.data(), 5, 1));
    io[3].desc.type = DataType::kFLOAT; // P4 must follow P2's type
    CHECK(!build->supportsFormatCombination(3, io.data(), 5, 1));
    io[3].desc.type = DataType::kHALF;
    io[0].desc.type = DataType::kINT32;
    CHECK(!build->supportsFormatCombination(0, io.data(), 5, 1));
    io[0].desc.type = DataType::kHALF; // RoIs are FP32 only: box math must not run in FP16
    CHECK(!build->supportsFormatCombination(0, io.data(), 5, 1));
    io[0].desc.type = DataType::kFLOAT;
    CHECK(build->configurePlugin(io.data(), 5, io.data() + 5, 1) == 0);
    io[0].desc.dims.d[1] = 6; // rois must be [R, 4] or [R, 5]
    CHECK(build->configurePlugin(io.data(), 5, io.data() + 5, 1) != 0);
    CHECK(logger.saw("rois should be [R, 4] or [R, 5]", true));

    PluginFieldCollection const* serialized = runtime->getFieldsToSerialize();
    CHECK(serialized->nbFields == 5);
    CHECK(fieldValue(serialized, "output_size") == 14);
    CHECK(fieldValue(serialized, "sampling_ratio") == 2);
    CHECK(fieldValue(serialized, "aligned") == 1);
    CHECK(fieldValue(serialized, "canonical_box_size") == 224);
    CHECK(fieldValue(serialized, "canonical_level") == 4);
    IPluginV3* restored = creator->createPlugin("roi", serialized, TensorRTPhase::kRUNTIME);
    CHECK(restored != nullptr);
    if (restored != nullptr)
    {
        auto* rt = static_cast<IPluginV3OneRuntime*>(restored->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
        CHECK(fieldValue(rt->getFieldsToSerialize(), "output_size") == 14);
        delete restored;
    }
    IPluginV3* copy = plugin->clone();
    CHECK(copy != nullptr);
    delete copy;
    delete plugin;

    int32_t bad = 0;
    PluginField badField("output_size", &bad, PluginFieldType::kINT32, 1);
    PluginFieldCollection badFc{1, &badField};
    CHECK(creator->createPlugin("roi", &badFc, TensorRTPhase::kBUILD) == nullptr);
    CHECK(logger.saw("output_size should be in [1, 1024], got 0", true));
    float scale = 0.25f;
    PluginField unknown("spatial_scale", &scale, PluginFieldType::kFLOAT32, 1);
    PluginFieldCollection unknownFc{1, &unknown};
    IPluginV3* lenient = creator->createPlugin("roi", &unknownFc, TensorRTPhase::kBUILD);
    CHECK(lenient != nullptr);
    CHECK(logger.saw("ignoring unknown field spatial_scale", false));
    delete lenient;
}

void checkSemanticUpsampleArgmax()
{
    IPluginCreatorV3One* creator = findCreator("SemanticUpsampleArgmax");
    CHECK(creator != nullptr);
    if (creator == nullptr)
    {
        return;
    }
    CHECK(creator->getFieldNames()->nbFields == 2);
    int32_t withScore = 1;
    PluginField field("with_score", &withScore, PluginFieldType::kINT32, 1);
    PluginFieldCollection fc{1, &field};
    IPluginV3* plugin = creator->createPlugin("up", &fc, TensorRTPhase::kBUILD);
    CHECK(plugin != nullptr);
    if (plugin == nullptr)
    {
        return;
    }
    auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
    auto* runtime = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    CHECK(build->getNbOutputs() == 2);
    DataType in[1] = {DataType::kHALF};
    DataType out[2] = {DataType::kFLOAT, DataType::kFLOAT};
    CHECK(build->getOutputDataTypes(out, 2, in, 1) == 0 && out[0] == DataType::kINT32 && out[1] == DataType::kHALF);
    std::vector<DynamicPluginTensorDesc> io = {desc({1, 54, 256, 512}, DataType::kHALF),
        desc({1, 1024, 2048}, DataType::kINT32), desc({1, 1024, 2048}, DataType::kHALF)};
    CHECK(build->supportsFormatCombination(0, io.data(), 1, 2));
    CHECK(build->supportsFormatCombination(1, io.data(), 1, 2));
    CHECK(build->supportsFormatCombination(2, io.data(), 1, 2));
    io[1].desc.type = DataType::kFLOAT;
    CHECK(!build->supportsFormatCombination(1, io.data(), 1, 2));
    CHECK(build->configurePlugin(io.data(), 1, io.data() + 1, 2) == 0);
    PluginFieldCollection const* serialized = runtime->getFieldsToSerialize();
    CHECK(fieldValue(serialized, "scale_factor") == 4 && fieldValue(serialized, "with_score") == 1);
    delete plugin;
}

float floatFieldValue(PluginFieldCollection const* fc, char const* name)
{
    for (int32_t i = 0; i < fc->nbFields; ++i)
    {
        if (std::strcmp(fc->fields[i].name, name) == 0 && fc->fields[i].type == PluginFieldType::kFLOAT32)
        {
            return *static_cast<float const*>(fc->fields[i].data);
        }
    }
    return -12345.f;
}

void checkPanopticFusion(Logger& logger)
{
    IPluginCreatorV3One* creator = findCreator("PanopticFusion");
    CHECK(creator != nullptr);
    if (creator == nullptr)
    {
        return;
    }
    CHECK(creator->getFieldNames()->nbFields == 5);
    int32_t numStuff = 53;
    float overlap = 0.3f;
    PluginField fields[2] = {PluginField("num_stuff", &numStuff, PluginFieldType::kINT32, 1),
        PluginField("overlap_thresh", &overlap, PluginFieldType::kFLOAT32, 1)};
    PluginFieldCollection fc{2, fields};
    IPluginV3* plugin = creator->createPlugin("fusion", &fc, TensorRTPhase::kBUILD);
    CHECK(plugin != nullptr);
    if (plugin == nullptr)
    {
        return;
    }
    auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
    auto* runtime = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    CHECK(build->getNbOutputs() == 3);
    DataType in[7] = {DataType::kINT32, DataType::kHALF, DataType::kFLOAT, DataType::kFLOAT, DataType::kINT32,
        DataType::kINT32, DataType::kINT32};
    DataType out[3] = {DataType::kFLOAT, DataType::kFLOAT, DataType::kFLOAT};
    CHECK(build->getOutputDataTypes(out, 3, in, 7) == 0 && out[0] == DataType::kINT32 && out[1] == DataType::kFLOAT
        && out[2] == DataType::kINT32);
    std::vector<DynamicPluginTensorDesc> io = {desc({1, 800, 1344}, DataType::kINT32),
        desc({1, 100, 28, 28}, DataType::kHALF), desc({1, 100, 4}, DataType::kFLOAT), desc({1, 100}, DataType::kFLOAT),
        desc({1, 100}, DataType::kINT32), desc({1}, DataType::kINT32), desc({1, 2}, DataType::kINT32),
        desc({1, 800, 1344}, DataType::kINT32), desc({1, 153, 10}, DataType::kFLOAT), desc({1}, DataType::kINT32)};
    for (int32_t pos = 0; pos < 10; ++pos)
    {
        CHECK(build->supportsFormatCombination(pos, io.data(), 7, 3));
    }
    io[2].desc.type = DataType::kHALF; // box coordinates never in FP16
    CHECK(!build->supportsFormatCombination(2, io.data(), 7, 3));
    io[2].desc.type = DataType::kFLOAT;
    CHECK(build->configurePlugin(io.data(), 7, io.data() + 7, 3) == 0);
    // the kernel loops over the masks' D and the table is sized from the boxes' D: they must agree
    io[1] = desc({1, 120, 28, 28}, DataType::kHALF);
    CHECK(build->configurePlugin(io.data(), 7, io.data() + 7, 3) != 0);
    CHECK(logger.saw("one N, one D, square masks", true));
    io[1] = desc({1, 100, 28, 28}, DataType::kHALF);
    PluginFieldCollection const* serialized = runtime->getFieldsToSerialize();
    CHECK(fieldValue(serialized, "num_stuff") == 53 && fieldValue(serialized, "stuff_area_limit") == 4096);
    CHECK(floatFieldValue(serialized, "overlap_thresh") == 0.3f && floatFieldValue(serialized, "mask_threshold") == 0.5f);
    // a float threshold given as an integer is refused with a message through the logger
    int32_t wrong = 1;
    PluginField bad("overlap_thresh", &wrong, PluginFieldType::kINT32, 1);
    PluginFieldCollection badFc{1, &bad};
    CHECK(creator->createPlugin("fusion", &badFc, TensorRTPhase::kBUILD) == nullptr);
    CHECK(logger.saw("overlap_thresh should be one FLOAT32", true));
    delete plugin;
}

} // namespace

int main()
{
    Logger logger;
    Finder finder(&logger);
    setLoggerFinder(&finder);
    checkRoIAlignFPN(logger);
    checkSemanticUpsampleArgmax();
    checkPanopticFusion(logger);
    if (gFailures == 0)
    {
        std::printf("OK\n");
    }
    return gFailures == 0 ? 0 : 1;
}
