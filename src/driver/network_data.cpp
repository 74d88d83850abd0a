// SPDX-License-Identifier: MIT
// Opening evaluation data for a converted network.
#include "network_data.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "neurocuda/error.h"

namespace neurocuda::driver {

std::unique_ptr<data::Dataset> open_data_for(const format::NetworkFile &net, const std::string &network_path,
                                             const std::string &path, const std::string &split, int64_t limit) {
  data::Preprocess pre{net.info.mean, net.info.std};
  auto data = data::limit_and_normalise(data::open_dataset(path, data::parse_split(split), data::Split::Test), limit, pre);
  const ir::Shape shape = net.graph.value(net.graph.input()).shape;
  if (data->sample_shape() != shape)
    throw UserError(fmt::format("data '{}' has samples of shape [{}] but network '{}' expects [{}]", data->description(),
                                fmt::join(data->sample_shape(), ", "), network_path, fmt::join(shape, ", ")));
  return data;
}

} // namespace neurocuda::driver
