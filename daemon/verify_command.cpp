// See verify_command.hpp. The table's columns are padded to the widest
// value of each (DETAIL, free text, is not padded but comes before REPAIRED,
// as docs/cli.md lists the columns: so REPAIRED is the line's last word).
#include "daemon/verify_command.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace ttscache {

std::string FormatVerifyReport(const VerifyReport& report, bool repair) {
  std::string out;
  size_t kind_width = 4, path_width = 4;
  for (const VerifyFinding& f : report.findings) {
    kind_width = std::max(kind_width, f.kind.size());
    path_width = std::max(path_width, log::Printable(f.path).size());
  }
  auto pad = [](std::string s, size_t width) {
    s.resize(std::max(s.size(), width), ' ');
    return s;
  };
  uint64_t problems = 0, repaired = 0, remarks = 0;
  if (!report.findings.empty()) {
    out += pad("KIND", kind_width) + "  " + pad("PATH", path_width) + "  DETAIL  REPAIRED\n";
  }
  for (const VerifyFinding& f : report.findings) {
    if (f.damage) {
      ++problems;
      if (f.repaired) ++repaired;
    } else {
      ++remarks;
    }
    const char* done = !f.damage ? "-" : f.repaired ? "yes" : "no";
    // A file name in the folder is anyone's text: no control byte reaches the table.
    out += pad(f.kind, kind_width) + "  " +
           pad(f.path.empty() ? "." : log::Printable(f.path), path_width) + "  " +
           log::Printable(f.detail) + "  " + done + "\n";
  }
  const char* verdict = report.verdict == VerifyVerdict::kClean      ? "clean"
                        : report.verdict == VerifyVerdict::kRepaired ? "repaired"
                                                                     : "damaged";
  out += std::string(verdict) + ": " + std::to_string(report.entries_checked) + " entries, " +
         std::to_string(report.files_checked) + " files checked; " + std::to_string(problems) +
         (problems == 1 ? " problem" : " problems") + ", " + std::to_string(repaired) +
         " repaired, " + std::to_string(remarks) + (remarks == 1 ? " remark" : " remarks");
  if (report.verdict == VerifyVerdict::kDamaged && !repair) out += " (run with --repair)";
  out += "\n";
  return out;
}

int RunVerifyCommand(const Config& config, const std::string& dir, bool repair, std::ostream& out) {
  CacheOptions options;
  options.dir = dir;
  options.engines = config.cache.engines;
  options.limits = {config.cache.max_entries,      config.cache.max_bytes,
                    config.cache.max_text_bytes,   config.cache.min_free_bytes,
                    config.cache.min_free_percent, config.cache.max_age_s};
  options.fsync = config.cache.fsync;
  Result<VerifyReport> report = VerifyCacheDirectory(options, repair);
  if (!report) {
    log::Error("ttscached --verify: " + report.error().message);
    switch (report.error().code) {
      case Errc::kLocked:
        return kExitVerifyLocked;
      case Errc::kForbidden:
        return kExitVerifyNoPerm;
      case Errc::kInvalidArgument:
      case Errc::kConfig:
        return kExitConfig;
      default:
        return kExitVerifyIoError;
    }
  }
  out << FormatVerifyReport(*report, repair);
  switch (report->verdict) {
    case VerifyVerdict::kClean:
      return 0;
    case VerifyVerdict::kRepaired:
      return kExitVerifyRepaired;
    case VerifyVerdict::kDamaged:
      break;
  }
  return kExitVerifyDamaged;
}

}  // namespace ttscache
