import CairnCore
import CairnS3
import Testing

/// AWS Signature V4 against AWS's published examples.
@Suite struct SigV4Tests {
    /// The IAM ListUsers example of AWS's "Signature Version 4 signing process" documentation.
    @Test func awsDocumentationExample() {
        let signer = SigV4(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                           region: "us-east-1", service: "iam")
        let headers = signer.sign(method: "GET", path: "/", query: [("Action", "ListUsers"), ("Version", "2010-05-08")],
                                  headers: [("Host", "iam.amazonaws.com"),
                                            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                                  payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                                  amzDate: "20150830T123600Z")
        let auth = headers.first { $0.0 == "Authorization" }?.1
        #expect(auth == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")
    }

    @Test func encodingAndDates() {
        #expect(SigV4.encode("a b/c~d*") == "a%20b%2Fc~d%2A")
        #expect(SigV4.encode("data/ab/x y", slash: false) == "data/ab/x%20y")
        #expect(SigV4.amzDate(Timestamp.parse("2015-08-30T12:36:00Z")!) == "20150830T123600Z")
    }
}
