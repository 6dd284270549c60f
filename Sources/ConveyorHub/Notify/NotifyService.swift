import ConveyorCore
import ConveyorHTTPClient
import ConveyorSecrets
import ServiceLifecycle

/// Notifications: consumer group `notify` on `cv:events`. Build events become `deliveries` rows
/// (webhooks and commit statuses), committed before the entry is acknowledged, then sent at once;
/// a second task retries due deliveries with exponential backoff.
public struct NotifyService: Service {
    let context: NodeContext
    let http: CurlHTTPClient
    let configuration: NotifyConfiguration
    let keyring: Keyring

    public init(context: NodeContext, http: CurlHTTPClient) {
        self.init(context: context, http: http, configuration: NotifyConfiguration())
    }

    /// `keyring` opens repository private keys (webhook signatures, `secure:` targets); nil reads
    /// the node's `secrets_key` settings. Without a usable key notifications still go out, unsigned
    /// and without secure targets, and the log says why (docs/notifications.md).
    public init(context: NodeContext, http: CurlHTTPClient, configuration: NotifyConfiguration, keyring: Keyring? = nil) {
        self.context = context
        self.http = http
        self.configuration = configuration
        if let keyring {
            self.keyring = keyring
        } else {
            do {
                self.keyring = try Keyring.from(context.settings)
            } catch {
                context.logger.error("secrets are unavailable to notifications", metadata: ["error": "\(error)"])
                self.keyring = Keyring(current: nil)
            }
        }
    }

    public func run() async throws {
        let planner = DeliveryPlanner(context: context)
        let sender = DeliverySender(context: context, http: http, configuration: configuration, keys: DeliveryKeys(context: context, keyring: keyring))
        let logger = context.logger
        let consumer = StreamConsumer(context: context, streams: [context.keys.events], group: Groups.notify) { items in
            var done: [(stream: String, id: String)] = []
            var planned: [Int64] = []
            for item in items {
                guard let event = BuildEventMessage(item.entry) else {
                    done.append((item.stream, item.entry.id)) // not a build event: nothing to notify
                    continue
                }
                do {
                    planned += try await planner.plan(event)
                    done.append((item.stream, item.entry.id))
                } catch {
                    logger.warning("planning notifications failed; the event stays pending", metadata: ["build": "\(event.build)", "error": "\(error)"])
                }
            }
            for id in planned {
                do { try await sender.deliver(id) } catch {
                    logger.warning("sending a notification failed; the sweep retries it", metadata: ["delivery": "\(id)", "error": "\(error)"])
                }
            }
            return done
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await consumer.run() }
            group.addTask { await retryDue(sender) }
        }
    }

    private func retryDue(_ sender: DeliverySender) async {
        await RoleRunner("notification retry sweep", logger: context.logger, every: configuration.sweepInterval).run {
            for id in try await sender.due() { try await sender.deliver(id) }
        }
    }
}
