// SPDX-License-Identifier: MIT
// The `neurocuda` command: parses flags, sets up logging, calls one driver entry point, maps errors to exit codes.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <malloc.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "neurocuda/backend.h"
#include "neurocuda/driver/commands.h"
#include "loihi2/trace.h"
#include "neurocuda/error.h"
#include "neurocuda/format/atomic_file.h"

namespace {

// Exit codes (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitUserError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInternalError = 3;
constexpr int kExitCheckFailed = 4;

// Loggers write to stderr; colour only on a terminal and never when NO_COLOR is set (no-color.org).
void setup_logging(bool verbose, bool quiet) {
  const char *no_color = std::getenv("NO_COLOR");
  const bool color = (no_color == nullptr || no_color[0] == '\0') && isatty(STDERR_FILENO);
  for (const char *name : {"frontend", "passes", "calibration", "backend.cpu", "backend.loihi2", "driver", "export"}) {
    auto logger = color ? spdlog::stderr_color_mt(name) : spdlog::stderr_logger_mt(name);
    logger->set_pattern(color ? "%^%l%$ [%n] %v" : "%l [%n] %v");
    logger->set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
  }
}

// The loihi2 backend's mapping flags, shared by eval and verify.
void add_loihi2_flags(CLI::App *cmd, std::string &reset_mode, double &reset_compensation) {
  cmd->add_option("--reset-mode", reset_mode,
                  "loihi2: subtract (u integrates, a -vth self-synapse subtracts) or zero (du=4095, dv=0, reset to zero); docs/loihi2.md")
      ->capture_default_str();
  cmd->add_option("--reset-compensation", reset_compensation,
                  "loihi2 --reset-mode zero: lower thresholds by this fraction (default 0.3)");
}

} // namespace

int main(int argc, char **argv) {
  // LibTorch allocates and frees multi-megabyte activations for every chunk of samples. glibc serves
  // those with fresh mmaps and returns them at once, so every chunk page-faults its buffers in again
  // (measured: a fifth of calibration time in the kernel). Keeping them in the heap for reuse costs no
  // more peak memory than the largest batch already needs.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"neurocuda: convert trained PyTorch (TorchScript) models into validated spiking neural networks"};
  app.set_version_flag("--version", neurocuda::driver::version());
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "More log output on stderr");

  neurocuda::driver::ConvertOptions conv;
  auto *c = app.add_subcommand("convert", "Convert a TorchScript model into a calibrated spiking network (.snn)");
  c->add_option("model", conv.model, "TorchScript model file (torch.jit.script or torch.jit.trace, saved with .save())")->required();
  c->add_option("--calib", conv.calib, "Calibration data: file or folder (IDX, .npy/.npz, CIFAR-10 binary, image folder)")->required();
  c->add_option("-o,--output", conv.output, "Output network file (default: <model stem>.snn in the current folder)");
  c->add_option("--percentile", conv.percentile, "Per-channel threshold percentile in (0, 100], or 'max'")->capture_default_str();
  c->add_option("--threshold-scope", conv.threshold_scope, "channel|layer: one threshold per channel or per population")->capture_default_str();
  c->add_option("--neuron", conv.neuron,
                "if|graded: integrate-and-fire, or graded neurons with signed integer spikes whose count is exact at T "
                "(cpu and cuda only; docs/conversion.md)")->capture_default_str();
  c->add_option("--threshold-search", conv.threshold_search,
                "Refine each channel's threshold to minimise the T-step quantization error (LTB-style; 0 = off)")->capture_default_str();
  c->add_option("--bias-correction", conv.bias_correction, "Correct biases layer by layer for this T (0 = off; docs/conversion.md)")->capture_default_str();
  c->add_option("--correction-samples", conv.correction_samples, "Calibration samples used by --bias-correction")->capture_default_str();
  c->add_option("--correction-rounds", conv.correction_rounds, "Rounds of --bias-correction per population (each refines the last)")->capture_default_str();
  c->add_option("--correction-precision", conv.correction_precision,
                "Numeric mode --bias-correction measures spike rates in: fp32, int8 or int16 (correct for the mode you deploy)")
      ->capture_default_str();
  c->add_option("--calib-samples", conv.calib_samples, "Use the first N calibration samples (0 = all)")->capture_default_str();
  c->add_option("--calib-split", conv.calib_split, "auto|train|test: which split of a folder holding both (auto = train)")->capture_default_str();
  c->add_option("--mean", conv.mean, "Normalisation mean, one value or one per channel (e.g. 0.5 or 0.49,0.48,0.45)");
  c->add_option("--std", conv.std, "Normalisation standard deviation, one value or one per channel");
  c->add_option("--batch", conv.batch, "Calibration batch size")->capture_default_str();
  c->add_option("--threads", conv.threads, "Threads (0 = all cores)")->capture_default_str();
  c->add_flag("--verify-each", conv.verify_each, "Verify the IR after every pass");
  c->add_option("--dump-ir-after", conv.dump_ir_after, "Print the IR to stderr after a pass (lower, a pass name, or all)");
  c->footer("Examples:\n"
            "  neurocuda convert models/vgg_small.pt --calib /usr/share/datasets/fashion-mnist -o vgg.snn\n"
            "  neurocuda convert model.pt --calib cifar-10-batches-bin --mean 0.49,0.48,0.45 --std 0.25 --percentile 99.9\n"
            "  neurocuda convert model.pt --calib calib.npz --percentile max --calib-samples 2000");

  neurocuda::driver::EvalOptions ev;
  auto *e = app.add_subcommand("eval", "Run a converted network on a backend and report accuracy, spike rates and SynOps");
  e->add_option("network", ev.network, "Converted network file (.snn) from `neurocuda convert`")->required();
  e->add_option("--data", ev.data, "Evaluation data: file or folder (a folder with train and test splits uses test)")->required();
  e->add_option("-T,--timesteps", ev.timesteps, "Timesteps, or a comma-separated list evaluated in one run (8,16,32,64)")->capture_default_str();
  e->add_option("--readout-delay", ev.readout_delay,
                 "Leave the first D timesteps' outputs out of the readout (the prediction at T sums steps D+1..T)")
      ->capture_default_str();
  e->add_option("--backend", ev.backend, "Backend to run on")->capture_default_str();
  e->add_option("--precision", ev.precision, "fp32, int8 or int16 (integer weights of 8/16 bits, 8-bit input, integer potentials)")->capture_default_str();
  add_loihi2_flags(e, ev.reset_mode, ev.reset_compensation);
  e->add_option("--report", ev.report, "Write the JSON report to this file (schema: docs/report-schema.md)");
  e->add_option("--split", ev.split, "auto|train|test: which split of a folder holding both (auto = test)")->capture_default_str();
  e->add_option("--limit", ev.limit, "Evaluate only the first N samples (0 = all)")->capture_default_str();
  e->add_option("--batch", ev.batch, "Samples per batch (memory is bounded by the batch)")->capture_default_str();
  e->add_option("--threads", ev.threads, "Threads (0 = all cores)")->capture_default_str();
  e->add_flag("--skip-ann", ev.skip_ann, "Do not run the ANN baseline through LibTorch");
  e->add_flag("--json", ev.json, "Print the JSON report on stdout instead of text (logs stay on stderr)");
  e->add_flag("-q,--quiet", ev.quiet, "Print nothing on success");
  e->add_option("--max-accuracy-drop", ev.max_accuracy_drop, "Gate: fail (exit 4) if ANN - SNN accuracy exceeds this many percentage points");
  e->add_option("--max-spike-rate", ev.max_spike_rate, "Gate: fail (exit 4) if spikes per neuron per timestep exceed this");
  e->add_option("--max-synops", ev.max_synops, "Gate: fail (exit 4) if synaptic operations per sample exceed this");
  e->footer("Examples:\n"
            "  neurocuda eval vgg.snn --data /usr/share/datasets/fashion-mnist -T 32 --report report.json\n"
            "  neurocuda eval vgg.snn --data /usr/share/datasets/fashion-mnist -T 8,16,32,64\n"
            "  neurocuda eval vgg.snn --data /usr/share/datasets/fashion-mnist -T 32 --max-accuracy-drop 1.0 --quiet  # CI gate\n"
            "Exit status 4 when a gate is exceeded.");

  neurocuda::driver::VerifyOptions ver;
  auto *v = app.add_subcommand("verify", "Check that backends agree bit for bit: every spike of every layer at every timestep, and the readout");
  v->add_option("network", ver.network, "Converted network file (.snn)")->required();
  v->add_option("--data", ver.data, "Samples to run (a folder with train and test splits uses test)")->required();
  v->add_option("--backends", ver.backends, "Comma-separated backends; each is compared with the first")->capture_default_str();
  v->add_option("--against", ver.against, "A second network to run on the first backend and compare (e.g. a perturbed copy)");
  v->add_option("--precision", ver.precision, "fp32, int8 or int16")->capture_default_str();
  add_loihi2_flags(v, ver.reset_mode, ver.reset_compensation);
  v->add_option("-T,--timesteps", ver.timesteps, "Timesteps")->capture_default_str();
  v->add_option("--readout-delay", ver.readout_delay, "As for eval: timesteps left out of the readout")->capture_default_str();
  v->add_option("--limit", ver.limit, "Compare only the first N samples (0 = all)")->capture_default_str();
  v->add_option("--batch", ver.batch, "Samples per batch (traces are held per batch)")->capture_default_str();
  v->add_option("--threads", ver.threads, "Threads (0 = all cores)")->capture_default_str();
  v->add_option("--report", ver.report, "Write the JSON report to this file");
  v->add_option("--split", ver.split, "auto|train|test")->capture_default_str();
  v->footer("Exit status 4 when anything differs.\nExamples:\n"
            "  neurocuda verify vgg.snn --data /usr/share/datasets/fashion-mnist --backends cpu,cuda\n"
            "  neurocuda verify vgg.snn --data /usr/share/datasets/fashion-mnist --backends cpu,cuda --precision int8 --report v.json\n"
            "  neurocuda verify vgg.snn --data calib.npz --backends cpu --against vgg_perturbed.snn");

  neurocuda::driver::InspectOptions ins;
  auto *in = app.add_subcommand("inspect", "Show a converted network: layers, shapes, thresholds, weight ranges, quantization, counts");
  in->add_option("network", ins.network, "Converted network file (.snn)")->required();
  in->add_flag("--json", ins.json, "Print JSON instead of text");
  in->footer("Examples:\n  neurocuda inspect vgg.snn\n  neurocuda inspect vgg.snn --json | jq .totals");

  neurocuda::driver::ExportOptions ex;
  auto *x = app.add_subcommand("export", "Write a converted network in an ecosystem format (NIR or Lava-dl netx HDF5)");
  x->add_option("network", ex.network, "Converted network file (.snn)")->required();
  x->add_option("--format", ex.format, "nir (any graph) or netx (chains of conv/dense/max-pool layers); docs/export.md")
      ->capture_default_str();
  x->add_option("-o,--output", ex.output, "Output file")->required();
  x->add_flag("-q,--quiet", ex.quiet, "Print nothing on success (warnings still go to stderr)");
  x->footer("Examples:\n  neurocuda export resnet.snn --format nir -o resnet.nir\n"
            "  python3 -c \"import nir; print(nir.read('resnet.nir').nodes.keys())\"\n"
            "  neurocuda export vgg.snn --format netx -o vgg.net");

  neurocuda::driver::SweepOptions sw;
  auto *sp = app.add_subcommand("sweep", "Accuracy vs timesteps for several calibration methods (percentiles, bias corrections): CSV, JSON and an SVG plot");
  sp->add_option("model", sw.convert.model, "TorchScript model file")->required();
  sp->add_option("--calib", sw.convert.calib, "Calibration data (a folder with both splits uses train)")->required();
  sp->add_option("--data", sw.data, "Evaluation data (a folder with both splits uses test)")->required();
  sp->add_option("-T,--timesteps", sw.timesteps, "Timesteps, comma-separated")->capture_default_str();
  sp->add_option("--readout-delay", sw.readout_delay, "As for eval, at every T (must be below the smallest)")->capture_default_str();
  sp->add_option("--percentiles", sw.percentiles, "Threshold percentiles to compare, comma-separated ('max' allowed)")->capture_default_str();
  sp->add_option("--bias-corrections", sw.bias_corrections,
                 "Bias-correction T values to combine with each percentile, comma-separated (0 = none)")->capture_default_str();
  sp->add_option("--threshold-searches", sw.threshold_searches,
                 "Threshold-search T values to combine with each method, comma-separated (0 = none)")->capture_default_str();
  sp->add_option("--correction-rounds", sw.convert.correction_rounds, "Rounds of each bias correction")->capture_default_str();
  sp->add_option("--correction-precision", sw.convert.correction_precision,
                 "Numeric mode each bias correction measures rates in (as for convert)")->capture_default_str();
  sp->add_option("--correction-samples", sw.convert.correction_samples, "Calibration samples per bias correction")->capture_default_str();
  sp->add_option("--precision", sw.precision, "fp32, int8 or int16")->capture_default_str();
  sp->add_option("--calib-samples", sw.convert.calib_samples, "Calibration samples (0 = all)")->capture_default_str();
  sp->add_option("--threshold-scope", sw.convert.threshold_scope, "channel|layer")->capture_default_str();
  sp->add_option("--neurons", sw.neurons, "Neuron models to compare, comma-separated: if, graded (as convert --neuron)")
      ->capture_default_str();
  sp->add_option("--mean", sw.convert.mean, "Normalisation mean");
  sp->add_option("--std", sw.convert.std, "Normalisation std");
  sp->add_option("--limit", sw.limit, "Evaluate the first N samples (0 = all)")->capture_default_str();
  sp->add_option("--threads", sw.convert.threads, "Threads (0 = all cores)")->capture_default_str();
  sp->add_option("-o,--output", sw.output, "Folder for sweep.csv, sweep.json and sweep.svg")->required();
  sp->footer("Examples:\n  neurocuda sweep models/vgg_small.pt --calib /usr/share/datasets/fashion-mnist "
             "--data /usr/share/datasets/fashion-mnist -T 4,8,16,32,64 --percentiles 99,99.9,99.99,max -o sweep/");

  std::string trace_case;
  auto *loihi = app.add_subcommand("loihi2", "Loihi 2 simulator tools");
  auto *trace = loihi->add_subcommand("trace", "Step one Dense -> LIF population under Loihi 2's fixed-point equations; print a JSON trace");
  trace->add_option("case", trace_case, "Case file (JSON, schema in docs/loihi2.md)")->required();
  trace->footer("Examples:\n  neurocuda loihi2 trace tests/loihi2/example_case.json");
  loihi->require_subcommand(1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &err) {
    const int rc = app.exit(err);  // prints help, version or the usage error
    return rc == 0 ? kExitOk : kExitUsage;
  }
  setup_logging(verbose, ev.quiet || ev.json);
  try {
    if (*c) neurocuda::driver::convert(conv);
    else if (*e) return neurocuda::driver::eval(ev) ? kExitOk : kExitCheckFailed;
    else if (*in) neurocuda::driver::inspect(ins);
    else if (*x) neurocuda::driver::export_network(ex);
    else if (*sp) {
      sw.model = sw.convert.model;
      neurocuda::driver::sweep(sw);
    }
    else if (*trace)
      std::printf("%s\n", neurocuda::backends::loihi2::run_trace_case(neurocuda::format::read_file(trace_case, "trace case")).c_str());
    else if (*v) return neurocuda::driver::verify(ver) ? kExitOk : kExitCheckFailed;
    return kExitOk;
  } catch (const neurocuda::UserError &err) {
    std::fprintf(stderr, "error: %s\n", err.what());
    return kExitUserError;
  } catch (const neurocuda::InternalError &err) {
    std::fprintf(stderr, "internal error: %s\nThis is a bug in neurocuda; please report it with the command you ran.\n",
                 err.what());
    return kExitInternalError;
  } catch (const std::exception &err) {
    std::fprintf(stderr, "internal error: %s\nThis is a bug in neurocuda; please report it with the command you ran.\n",
                 err.what());
    return kExitInternalError;
  }
}
