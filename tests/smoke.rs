use netplumb::testing::TestNs;

#[tokio::test]
async fn lo_is_up_in_a_fresh_namespace() {
    let ns = TestNs::new("smoke").await;
    let out = ns.ip(&["-j", "link", "show", "lo"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let flags = v[0]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "UP"), "{out}");
    let names = netplumb::netns::Netns::list_named().unwrap();
    assert!(names.iter().any(|n| n == ns.name()));
}
