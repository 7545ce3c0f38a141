// The BGP speaker: one session per configured peer (plus passive accepts), announcing each
// VIP while its `require` holds. It knows services only by name and healthy-backend count;
// it knows nothing of HTTP or of the proxy.
#pragma once

#include <ev.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "contrail_lb/bgp/hand_over.hpp"
#include "contrail_lb/bgp/status.hpp"
#include "contrail_lb/config/config.hpp"

namespace clb::bgp {

struct ServiceHealth {
    unsigned healthy_backends = 0;  // UP and not drained
    bool listening = false;         // every listener of the service is bound
    // A redirect service answers every request itself: healthy whenever it listens,
    // whatever require.min_healthy_backends says (it has no backends).
    bool answers_itself = false;
};
using ServiceHealthMap = std::map<std::string, ServiceHealth, std::less<>>;

class Speaker {
  public:
    // Runs on `loop` (the control loop); starts dialling every peer at once, except those
    // whose session the previous process handed over (upgrade: `adopted`), which go on
    // Established. `health` is the services' state from the first instant, so that an
    // adopted session's routes stay as they are.
    Speaker(struct ev_loop* loop, const config::Bgp& config, SpeakerHandOver adopted = {},
            ServiceHealthMap health = {});
    ~Speaker();
    Speaker(const Speaker&) = delete;
    Speaker& operator=(const Speaker&) = delete;

    // Reload: sessions whose peer settings did not change stay Established; VIP changes
    // are announced/withdrawn at once.
    void reconfigure(const config::Bgp& config);
    // Re-evaluates every VIP's `require`; changes go on the wire immediately.
    void set_service_health(const ServiceHealthMap& health);
    // Watchdog: false withdraws every VIP whatever the services say, true restores.
    void set_node_healthy(bool healthy, const std::string& reason);
    // Withdraw every VIP (after the optional RFC 8326 graceful-shutdown phase), keep the
    // sessions up for withdraw_wait when anything was announced, send Cease/Administrative
    // Shutdown to every peer, close; then `done` runs on the loop.
    void shutdown(std::function<void()> done);

    // Upgrade: every Established session's socket and state, for the next process; the
    // others close. Nothing is sent to any peer, and the speaker only waits to be destroyed.
    SpeakerHandOver hand_over();

    SpeakerStatus status() const;

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace clb::bgp
