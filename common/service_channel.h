// The one way a BloodGrid process opens a channel to another BloodGrid service.
#ifndef BLOODGRID_COMMON_SERVICE_CHANNEL_H_
#define BLOODGRID_COMMON_SERVICE_CHANNEL_H_

#include <memory>
#include <string>

namespace grpc {
class Channel;
}  // namespace grpc

namespace bloodgrid {

// A channel to `target` (host:port, or dns:///name:port for every replica behind a headless
// Service) that balances calls round-robin over the resolved addresses and reconnects quickly
// after a restart: reconnect backoff starts at 200 ms and never exceeds 5 s (gRPC's default
// grows to 120 s, far too long for a hospital waiting on an order). Create once, share.
std::shared_ptr<grpc::Channel> CreateServiceChannel(const std::string& target,
                                                    int max_receive_message_bytes = 16 << 20);

}  // namespace bloodgrid

#endif  // BLOODGRID_COMMON_SERVICE_CHANNEL_H_
