require 'sinatra/base'

# A small shop: the product list and, for the accounting team, a CSV export.
class Shop < Sinatra::Base
  PRODUCTS = [
    { name: 'Watering can', price: 12.5 },
    { name: 'Seed tray', price: 3.2 },
  ].freeze

  get '/' do
    erb :index, locals: { products: PRODUCTS }
  end

  # Linked from nowhere: the accounting team's spreadsheet fetches it.
  get '/export.csv' do
    require 'csv'
    content_type 'text/csv'
    CSV.generate do |csv|
      csv << %w[name price]
      PRODUCTS.each { |p| csv << [p[:name], p[:price]] }
    end
  end

  # The staff's stock page, behind a password the way Sinatra's own FAQ guards one route. Rack
  # loads its Basic auth code only when the constant is first named: no require names it.
  get '/admin/stock' do
    auth = Rack::Auth::Basic::Request.new(request.env)
    password = ENV['SHOP_STAFF_PASSWORD'] # no password set: nobody gets in
    unless password && auth.provided? && auth.basic? && auth.credentials == ['staff', password]
      headers['WWW-Authenticate'] = 'Basic realm="shop staff"'
      halt 401, "staff only\n"
    end
    PRODUCTS.map { |p| "#{p[:name]}: in stock\n" }.join
  end

  # Linked from nowhere: the monitoring system's check. It asks the shop's front page over HTTP,
  # as it would ask an upstream service; open-uri loads Net::HTTP only when it opens a URL.
  get '/status' do
    require 'open-uri'
    front = URI.open("http://127.0.0.1:#{ENV.fetch('PORT', '9292')}/", read_timeout: 5, &:status)
    content_type 'text/plain'
    "front page: #{front.join(' ')}\n"
  end
end
