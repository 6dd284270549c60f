import ConveyorCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import ConveyorTesting
@testable import ConveyorWeb

/// The fan-out's bounds, filters and visibility, fed by real events on Redis.
@Suite struct FanoutTests {
    @Test func subscribersAreBoundedPerNode() async throws {
        let web = try await WebFixture.make { $0.maxStreamSubscribers = 2 }
        let first = try web.fanout.subscribe(.all(logs: false, seesPrivate: true))
        let second = try web.fanout.subscribe(.job(1))
        #expect(throws: APIError.self) { _ = try web.fanout.subscribe(.job(2)) }
        try await web.test { client in
            try await client.execute(uri: "/api/v1/events/stream", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
            }
        }
        _ = (first, second)
    }

    /// A subscription whose last reference goes (its response ended, or was never written) leaves
    /// the table at once: its place is free for the next stream without waiting on a task.
    @Test func aDroppedSubscriptionFreesItsPlaceAtOnce() async throws {
        let web = try await WebFixture.make { $0.maxStreamSubscribers = 1 }
        for job in 1...3 {
            let subscription = try web.fanout.subscribe(.job(Int64(job)))
            #expect(web.fanout.subscriberCount == 1)
            _ = subscription
        }
        #expect(web.fanout.subscriberCount == 0)
    }

    @Test func aSlowSubscriberIsToldToReconnect() async throws {
        let web = try await WebFixture.make { $0.streamBufferEvents = 16 }
        let reader = Task { await web.fanout.run(from: "0-0") }
        defer { reader.cancel() }
        let slow = try web.fanout.subscribe(.all(logs: true, seesPrivate: true))
        for i in 0..<100 {
            try await web.context.events.publish(type: "build:started", data: ["build": .int(Int64(i)), "repo": .string("o/r")])
        }
        #expect(try await eventually { slow.overflowed })
        var received = 0
        for await _ in slow.events { received += 1 }
        #expect(received <= 16)
        #expect(try await eventually { web.fanout.subscriberCount == 0 })
    }

    @Test func filtersPickJobsAndHidePrivateRepositories() async throws {
        let web = try await WebFixture.make()
        let priv = try await web.seed(slug: "corp/hidden", isPrivate: true)
        let pub = try await web.seed(slug: "corp/open", isPrivate: false)
        let reader = Task { await web.fanout.run(from: "0-0") }
        defer { reader.cancel() }
        let anonymous = try web.fanout.subscribe(.all(logs: true, seesPrivate: false))
        let trusted = try web.fanout.subscribe(.all(logs: false, seesPrivate: true))
        let oneJob = try web.fanout.subscribe(.job(pub.job))
        let events = web.context.events
        try await events.publish(type: "build:started", data: ["build": .int(priv.build), "repo": .string("corp/hidden")])
        try await events.publish(type: "job:queued", data: ["job": .int(priv.job), "build": .int(priv.build)])  // no repo: resolved by id
        try await events.publish(type: "log:part", data: ["job": .int(priv.job), "attempt": .int(1), "number": .int(0), "final": .bool(false), "content": .string("secret")])
        try await events.publish(type: "log:part", data: ["job": .int(pub.job), "attempt": .int(1), "number": .int(0), "final": .bool(false), "content": .string("hello")])
        try await events.publish(type: "build:started", data: ["build": .int(pub.build), "repo": .string("corp/open")])

        func collect(_ subscription: StreamSubscription, until type: String, build: Int64? = nil) async -> [FanoutEvent] {
            var seen: [FanoutEvent] = []
            for await event in subscription.events where event.type != "tick" {
                seen.append(event)
                if event.type == type && (build == nil || event.build == build) { break }
            }
            return seen
        }
        let anonymousSeen = await collect(anonymous, until: "build:started", build: pub.build)
        #expect(anonymousSeen.map(\.type) == ["log:part", "build:started"])
        #expect(anonymousSeen.allSatisfy { $0.job != priv.job && $0.build != priv.build })
        let trustedSeen = await collect(trusted, until: "build:started", build: pub.build)
        #expect(trustedSeen.map(\.type) == ["build:started", "job:queued", "build:started"])
        let jobSeen = await collect(oneJob, until: "log:part")
        #expect(jobSeen.count == 1)
        #expect(jobSeen.first?.part.map { String(decoding: $0.content, as: UTF8.self) } == "hello")
    }
}
