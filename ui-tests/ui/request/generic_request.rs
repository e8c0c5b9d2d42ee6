use staticbus::Request;

#[derive(Request)]
#[request(response = T)]
struct Echo<T>(T);

fn main() {}
