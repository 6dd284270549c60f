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

    func register<C: RequestContext>(on router: Router<C>) {
        for (path, file) in Self.files {
            router.get(RouterPath(stringLiteral: path)) { _, _ -> Response in
                guard let url = Bundle.module.url(forResource: file.name, withExtension: nil, subdirectory: "UI"),
                      let data = try? Data(contentsOf: url) else {
                    throw APIError(.notFound, "\(file.name) is missing from this build")
                }
                return Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
    }
}
