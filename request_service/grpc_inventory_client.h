// InventoryClient over gRPC: InventoryService's generated stub on a shared channel.
#ifndef BLOODGRID_REQUEST_SERVICE_GRPC_INVENTORY_CLIENT_H_
#define BLOODGRID_REQUEST_SERVICE_GRPC_INVENTORY_CLIENT_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "request_service/inventory_client.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace bloodgrid::request {

// A channel to `target` (e.g. "dns:///inventory:50052") with the round_robin load-balancing
// policy, so a DNS name resolving to several replicas spreads calls across them. Insecure
// credentials: traffic stays inside the cluster network.
std::shared_ptr<grpc::Channel> NewInventoryChannel(const std::string& target);

// Every unary call's deadline is min(the caller's, now + call_timeout).
std::unique_ptr<InventoryClient> NewGrpcInventoryClient(std::shared_ptr<grpc::Channel> channel,
                                                        absl::Duration call_timeout);

}  // namespace bloodgrid::request

#endif  // BLOODGRID_REQUEST_SERVICE_GRPC_INVENTORY_CLIENT_H_
