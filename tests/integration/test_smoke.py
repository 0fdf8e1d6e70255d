def test_me(management, admin):
    r = management("GET", "/v1/me", token=admin.token)
    print(r)
    assert r.status == 200
