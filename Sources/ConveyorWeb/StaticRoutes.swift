import Foundation
import Hummingbird

/// The web UI: static files shipped in the package (`UI/`), nothing built on the user's machine.
struct StaticRoutes: Sendable {
    static let files: [String: (name: String, type: String)] = [
        "/": ("index.html", "text/html; charset=utf-8"),
        "/index.html": ("index.html", "text/html; charset=utf-8"),
        "/app.js": ("app.js", "text/javascript; charset=utf-8"),
        "/app.css": ("app.css", "text/css; charset=utf-8"),
    ]

    /// Files are read once, when routes are registered, so no request does file I/O on the cooperative pool.
    func register<C: RequestContext>(on router: Router<C>) {
        for (path, file) in Self.files {
            let data = Bundle.module.url(forResource: file.name, withExtension: nil, subdirectory: "UI").flatMap { try? Data(contentsOf: $0) }
            router.get(RouterPath(stringLiteral: path)) { _, _ -> Response in
                guard let data else { throw APIError(.notFound, "\(file.name) is missing from this build") }
                return Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
    }
}
